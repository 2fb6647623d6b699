"""JSON log lines: the fixed fields, extras, exceptions; text stays text."""

from __future__ import annotations

import io
import json
import logging

from pa_server.logformat import JsonFormatter, configure_logging


def _line(record: logging.LogRecord) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_json_line_has_fixed_fields_and_extras() -> None:
    logger = logging.getLogger("pa_server.test")
    record = logger.makeRecord(
        "pa_server.test",
        logging.WARNING,
        __file__,
        1,
        "receipt of %s dropped",
        ("loa-01",),
        None,
        extra={"device_id": "loa-01", "late": object()},
    )
    line = _line(record)
    assert line["level"] == "WARNING" and line["logger"] == "pa_server.test"
    assert line["msg"] == "receipt of loa-01 dropped"
    assert str(line["ts"]).endswith("+00:00") and "." in str(line["ts"])
    assert line["device_id"] == "loa-01"
    assert str(line["late"]).startswith("<object")  # unserialisable extras become text
    assert "args" not in line and "exc" not in line


def test_json_line_carries_the_traceback() -> None:
    try:
        raise ValueError("Lỗi")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info()
        )
    line = _line(record)
    assert "ValueError: Lỗi" in str(line["exc"])


def test_configure_logging_switches_the_root_handler() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json")
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        stream = io.StringIO()
        handler.setStream(stream)
        logging.getLogger("pa_server.services.demo").info("xin chào %d", 1, extra={"zone": "a/b"})
        assert json.loads(stream.getvalue()) | {"ts": None} == {
            "ts": None,
            "level": "INFO",
            "logger": "pa_server.services.demo",
            "msg": "xin chào 1",
            "zone": "a/b",
        }
        configure_logging("text")
        assert not isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
