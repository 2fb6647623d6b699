"""The same announcement and options give the same bytes through the API, the pages and the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pa_server.api import deps
from pa_server.app import create_app
from pa_server.cli import main
from pa_server.config import Settings
from tests.pa_server.server_fixtures import TEST_AUTHOR

TEXT = "Giá lúa 8.000 đồng/kg, 3/4 số hộ đã bán. Gọi 100 người."


def test_api_page_and_cli_render_identical_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path / "server", tts_engine="espeak")
    app = create_app(settings, background=False)
    app.dependency_overrides[deps.current_user] = lambda: TEST_AUTHOR
    options = {
        "engine": "espeak",
        "voice": "nam",
        "speed": 0.9,
        "repeat": 3,
        "comma_pause_ms": 400,
        "sentence_pause_ms": 700,
        "intro": False,
        "outro": True,
    }
    with TestClient(app) as client:
        ann = client.post("/api/v1/announcements", json={"title": "Giá lúa", "text": TEXT})
        assert ann.status_code == 201, ann.text
        rendered = client.post(f"/api/v1/announcements/{ann.json()['id']}/render", json=options)
        assert rendered.status_code == 200, rendered.text
    server_sha = rendered.json()["sha256"]
    # The CLI, in its own data folder (its own caches): the same options as flags.
    code = main(
        [
            "say",
            TEXT,
            "--engine",
            "espeak",
            "--region",
            "nam",
            "--speed",
            "0.9",
            "--repeat",
            "3",
            "--comma-pause",
            "400",
            "--sentence-pause",
            "700",
            "--no-intro",
            "--outro",
            "--data-dir",
            str(tmp_path / "cli"),
        ]
    )
    assert code == 0
    match = re.search(r"sha256:\s+([0-9a-f]{64})", capsys.readouterr().out)
    assert match is not None
    assert match.group(1) == server_sha
    # One option differs: the bytes differ (the check above can fail).
    main(["say", TEXT, "--engine", "espeak", "--region", "bac", "--data-dir", str(tmp_path / "c2")])
    other = re.search(r"sha256:\s+([0-9a-f]{64})", capsys.readouterr().out)
    assert other is not None and other.group(1) != server_sha
