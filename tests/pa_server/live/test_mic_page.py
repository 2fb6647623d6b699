"""The push-to-talk page in headless Chromium with a fake microphone playing a 440-Hz WAV."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from pa_server.api.live import install
from pa_server.live.engine import FakeLiveEngine
from pa_server.live.sources import MicRegistry, MicSource
from pa_server.web import STATIC_DIR
from pa_server.web.live import mic_page
from tests.live_support import band_energy, tone, wait_for, wav_bytes
from tests.pa_server.web.conftest import CHROMIUM, CHROMIUM_ARGS, _chromium_or_reason, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, FakeLiveEngine, str]]:
    engine = FakeLiveEngine()
    registry = MicRegistry()
    mic = MicSource(rate=48_000, channels=1)
    session = engine.start_session(["loa-1", "loa-2"], mic, title="Thông báo khẩn")
    token = registry.register(session.id, mic)
    app = FastAPI()
    install(app, registry)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/live/{sid}")
    def page(request: Request, sid: str) -> HTMLResponse:
        return mic_page(request, session, token)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started, 30)
    yield f"http://127.0.0.1:{port}/live/{session.id}", engine, session.id
    server.should_exit = True
    thread.join(10)


def test_push_to_talk_streams_the_microphone(
    served: tuple[str, FakeLiveEngine, str], tmp_path: Path
) -> None:
    reason = _chromium_or_reason()
    if reason is not None:
        if os.environ.get("PA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (PA_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    url, engine, sid = served
    wav = tmp_path / "mic.wav"
    wav.write_bytes(wav_bytes(tone(440, 10.0)))
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            page: Any = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            page.wait_for_selector("#live-talk:not([disabled])")
            assert "loa-1, loa-2" in page.inner_text("#live-mic")
            assert engine.all[sid].pcm == bytearray()  # nothing is sent before the button
            page.hover("#live-talk")
            page.mouse.down()
            assert wait_for(lambda: len(engine.all[sid].pcm) >= 4 * 48_000, 20)
            page.mouse.up()
            assert float(page.eval_on_selector("#live-level", "m => m.value")) > 0.01
            page.click("#live-end")
            page.wait_for_function(
                "document.getElementById('live-status').textContent.includes('kết thúc')"
            )
        finally:
            browser.close()
    end = engine.all[sid].end
    assert end is not None and end.outcome == "finished"
    pcm = np.frombuffer(bytes(engine.all[sid].pcm), dtype="<i2").reshape(-1, 2)
    assert band_energy(pcm[:, 0] / 32768.0, 440) > 0.5
