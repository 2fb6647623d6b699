"""`pa-server run`: start the HTTP server."""

from __future__ import annotations

import argparse
from typing import Any


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

    settings = get_settings()
    # The listen address also shapes the default public URL agents fetch media from.
    settings = settings.model_copy(
        update={"host": args.host or settings.host, "port": args.port or settings.port}
    )
    uvicorn.run(
        create_app(settings, demo=args.demo),
        host=settings.host,
        port=settings.port,
        log_level="info",
    )
    return 0
