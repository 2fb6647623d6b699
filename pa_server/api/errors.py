"""One error body for every failure: `{"detail": {"code": …, "message": …}}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from pa_server.messaging.bus import BusError
from pa_server.services.errors import ServiceError

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """The JSON error response."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        detail["errors"] = errors
    return JSONResponse({"detail": detail}, status_code=status)


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, exc.code, exc.message)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return error_response(422, "invalid_input", f"{where}: {first['msg']}", errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    response = error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _bus_error(_request: Request, exc: Exception) -> JSONResponse:
    # A command that the broker did not take (down, or no PUBACK in time): nothing was stored
    # for it, so the caller may simply retry.
    log.warning("MQTT command not sent: %s", exc)
    return error_response(503, "broker_unavailable", f"the MQTT broker did not take it: {exc}")


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(BusError, _bus_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
