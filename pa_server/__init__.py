"""The central service: config, storage, planner, dispatch, MQTT bridge, HTTP API, web UI, CLI."""
