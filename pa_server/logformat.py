"""Log output of `pa-server run`: plain text lines, or JSON lines (`PA_LOG_FORMAT=json`).

JSON lines carry `ts` (UTC, ISO 8601, milliseconds), `level`, `logger`, `msg` (the formatted
message), every `extra={...}` field given to the log call, and `exc` with the traceback when
there is one. Plain stdlib logging: any library's records (uvicorn's included) come out alike.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "color_message"}  # uvicorn's copy of msg with ANSI colours
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra that JSON cannot hold is logged as its text, never dropped.
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(fmt: LogFormat, *, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr in `fmt`, replacing earlier root handlers."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
