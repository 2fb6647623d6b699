"""`pa-server run`: start the HTTP server."""

from __future__ import annotations

import argparse
import logging
import socket
from typing import Any

from pa_server.cli import CommandError
from pa_server.config import Settings


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("run", help="start the server")
    p.add_argument("--host", default=None, help="listen address (default PA_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="listen port (default PA_PORT or 8000)")
    p.add_argument("--demo", action="store_true", help="seed a demo district")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from pa_server.app import create_app
    from pa_server.config import get_settings
    from pa_server.logformat import configure_logging

    settings = get_settings()
    # The listen address also shapes the default public URL agents fetch media from.
    settings = settings.model_copy(
        update={"host": args.host or settings.host, "port": args.port or settings.port}
    )
    _preflight(settings)
    configure_logging(settings.log_format, level=logging.getLogger().level or logging.INFO)
    uvicorn.run(
        create_app(settings, demo=args.demo),
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=None,  # uvicorn's records go through our handler, in PA_LOG_FORMAT
    )
    return 0


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _preflight(settings: Settings) -> None:
    """Refuse to start, in one line, when a port we must listen on is taken.

    Failing later inside the ASGI lifespan would print a traceback at the user.
    """
    if _port_taken(settings.host, settings.port):
        raise CommandError(
            f"port {settings.port} on {settings.host} is in use: set PA_PORT or --port"
        )
    if settings.mqtt_url is None and _port_taken(settings.broker_host, settings.broker_port):
        raise CommandError(
            f"the embedded MQTT broker cannot listen on {settings.broker_host}:"
            f"{settings.broker_port} (in use): set PA_BROKER_PORT to a free port, or "
            f"PA_MQTT_URL (e.g. mqtt://127.0.0.1:{settings.broker_port}) to use that broker"
        )
