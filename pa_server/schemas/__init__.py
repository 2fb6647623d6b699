"""Layered API schemas per resource (`XCreate`, `XUpdate`, `XPublic`): the API's only shapes."""
