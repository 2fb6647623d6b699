"""The microphone through the pages and the live service, in headless Chromium (fake 440-Hz mic).

An admin opens Trực tiếp, starts an emergency microphone session on a commune (quiet hours do
not hold an emergency back), lands on the push-to-talk page (who is on air, the targets by
name), holds the button, ends it; the session's row says `finished`, the loudspeakers got a
live `play` and then a `stop`. The engine is the fake one (what reaches snapserver is tested
with a real one in test_service_relay.py); everything else is the real app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from sqlalchemy import select

from devices.protocol import utc_now
from pa_server.app import create_app
from pa_server.auth import accounts
from pa_server.config import Settings
from pa_server.db.models import LiveSessionRow
from pa_server.live.engine import FakeLiveEngine
from pa_server.schemas.devices import DeviceCreate
from pa_server.services import devices
from pa_server.services.context import UseCase, cli_actor
from pa_server.services.live import LiveHub
from tests.live_support import band_energy, tone, wait_for, wav_bytes
from tests.pa_server.server_fixtures import FakeDispatcher, add_zone
from tests.pa_server.web.conftest import (
    CHROMIUM,
    PASSWORD,
    SCREENSHOTS,
    free_port,
    microphone_args,
    require_chromium,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COMMUNE = "vinh-tuong/tan-tien"


class Served:
    def __init__(self, url: str, app: Any, engine: FakeLiveEngine, sent: FakeDispatcher) -> None:
        self.url, self.app, self.engine, self.sent = url, app, engine, sent


def _seed(app: Any) -> None:
    """A district, a commune with three loudspeakers, and its admin."""
    now = utc_now()
    with app.state.sessions() as db:
        for path, name in (("vinh-tuong", "Huyện Vĩnh Tường"), (COMMUNE, "Xã Tân Tiến")):
            add_zone(db, path, name, timezone="Asia/Ho_Chi_Minh", now=now)
        uc = UseCase(db, cli_actor(), now, app.state.settings)
        for n in (1, 2, 3):
            devices.create_device(uc, DeviceCreate(id=f"loa-{n}", zone=COMMUNE))
        accounts.create_user(
            db, "quantri", role="admin", password=PASSWORD, full_name="Quản trị huyện", now=now
        )
        db.commit()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The real app on a small district, its live hub on a fake engine."""
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", tts_engine="espeak", port=port)
    app = create_app(settings, background=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started or not thread.is_alive(), 120) and server.started
    _seed(app)
    engine, sent = FakeLiveEngine(), FakeDispatcher()
    app.state.dispatcher = sent
    app.state.live = LiveHub(
        engine, mics=app.state.live_mics, sessions=app.state.sessions, dispatcher=lambda: sent
    )
    yield Served(f"http://127.0.0.1:{port}", app, engine, sent)
    server.should_exit = True
    thread.join(10)


def test_a_microphone_session_from_the_page_through_the_service(
    served: Served, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_chromium()
    wav = tmp_path / "mic.wav"
    wav.write_bytes(wav_bytes(tone(440, 10.0)))
    args = microphone_args(wav)
    engine = served.engine
    pw = request.getfixturevalue("playwright_session")  # the worker's one Playwright
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    try:
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        page: Any = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(served.url + "/dang-nhap")
        page.fill("#f-username", "quantri")
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.goto(served.url + "/truc-tiep")
        screenshot(page, SCREENSHOTS / "live-mic-01-form.png", full_page=True)
        page.fill("#f-title", "Khẩn cấp: nước lên")
        page.select_option("#f-level", "emergency")
        page.check(f"input[name=zone][value='{COMMUNE}']")
        page.check("input[name=confirm]")
        page.click("[data-testid=live-form] button[type=submit]")
        page.wait_for_selector("#live-talk:not([disabled])")
        screenshot(page, SCREENSHOTS / "live-mic-02-ready.png", full_page=True)
        text = page.inner_text("#live-mic")
        assert "Tân Tiến" in text and "Quản trị huyện" in text  # targets and speaker by name
        assert COMMUNE not in text
        [sid] = [s.session.id for s in engine.all.values()]
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
        page.goto(f"{served.url}/truc-tiep/{sid}")
        screenshot(page, SCREENSHOTS / "live-mic-03-session.png", full_page=True)
        assert "Đã xong" in page.inner_text("main")
    finally:
        browser.close()
    end = engine.all[sid].end
    assert end is not None and end.outcome == "finished"
    pcm = np.frombuffer(bytes(engine.all[sid].pcm), dtype="<i2").reshape(-1, 2)
    assert band_energy(pcm[:, 0] / 32768.0, 440) > 0.5
    with served.app.state.sessions() as db:
        row = db.scalars(select(LiveSessionRow)).one()
        assert (row.id, row.kind, row.outcome, row.started_by) == (
            sid,
            "mic",
            "finished",
            "quantri",
        )
        assert row.level == "emergency" and row.targets == [f"zone:{COMMUNE}"]
    kinds = [(target, kind) for target, kind, _ in served.sent.commands]
    # On air as a live item, and silenced when the page ended it (before its `until`).
    assert kinds == [(f"zone:{COMMUNE}", "play"), (f"zone:{COMMUNE}", "stop")]
    play = served.sent.commands[0][2]
    assert play.live is not None and play.priority == 100
