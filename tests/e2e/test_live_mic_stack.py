"""A microphone in a browser through the whole stack, to the loudspeakers and into the report.

`pa-server run` with its own snapserver, a private broker, three `pa-device run` agents in one
zone and one outside it (snapclient file players), and headless Chromium whose fake microphone
plays a WAV tone of 660 Hz (a frequency nothing else in the suite uses). An operator of the
zone, made as an administrator would make one, signs in, opens *Trực tiếp*, starts a
microphone session on the zone, talks (the latched mode: one press, on until pressed again)
and ends it from the page.

What must follow: the three agents' snapclients wrote the tone, the outsider wrote nothing and
reported nothing; each target reported `started` then `finished`; the session ended
`finished` with a recording that carries the tone; the page showed who is on air and the
loudspeakers reached; the broadcast's report (API detail, proof page, Báo cáo) lists the three
loudspeakers and links the recording, which downloads for a signed-in person only.

Needs snapserver, snapclient, ffmpeg (failed under PA_REQUIRE_SNAPCAST=1) and Chromium with
Playwright (failed under PA_REQUIRE_BROWSER=1); skipped without them otherwise.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from audio.encode import find_ffmpeg
from tests.e2e.harness import PASSWORD, StateWatch, System, wait_for
from tests.e2e.live_stack import (
    OTHER,
    ZONE,
    ended,
    fleet,
    kinds,
    live_raw,
    on_air,
    reported,
    session_of,
)
from tests.live_support import RATE, band_energy, read_mono, tone, wav_bytes
from tests.pa_server.web.conftest import (
    CHROMIUM,
    SCREENSHOTS,
    microphone_args,
    require_chromium,
    screenshot,
)

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.browser]

#: The microphone's tone; the radio of test_live_stack.py is 440 Hz.
MIC_HZ = 660
#: Seconds of the tone each loudspeaker must have played before the page ends the session.
TALK_S = 3.0
#: Chromium's microphone processing (noise suppression, automatic gain) takes a steady tone
#: for noise and lowers it to about -28 dB RMS: sound is above -40 dB here, not the radio's -26.
MIC_FLOOR = 0.01
SPEAKER = "phat-thanh-vien"
SPEAKER_NAME = "Nguyễn Thị Phát"
PHONE = {"width": 390, "height": 844}
#: The zones' names as a district would give them (the pages show names, never paths).
NAMES = {"e2e": "Huyện Thử", "e2e/xa": "Xã Thử", ZONE: "Thôn 1", OTHER: "Thôn 2"}


@pytest.fixture
def server_env(snapcast_env: dict[str, str]) -> dict[str, str]:
    """The server runs its own snapserver (`conftest.snapcast_env`)."""
    return snapcast_env


@pytest.fixture
def mic_browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Headless Chromium whose microphone plays a WAV of the tone (the worker's Playwright)."""
    require_chromium()
    wav = tmp_path / "mic.wav"
    wav.write_bytes(wav_bytes(tone(MIC_HZ, 10.0)))
    pw = request.getfixturevalue("playwright_session")
    browser = pw.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=microphone_args(wav)
    )
    yield browser
    browser.close()


def decoded(mp3: bytes) -> npt.NDArray[np.float64]:
    """An MP3 as mono floats at `RATE` (the server's own ffmpeg)."""
    ffmpeg = find_ffmpeg()
    assert ffmpeg is not None
    done = subprocess.run(
        [ffmpeg, "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"],
        input=mp3,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return np.frombuffer(done.stdout, dtype="<i2").astype(np.float64) / 32768.0


def shows(page: Any, selector: str, text: str) -> bool:
    return text in page.inner_text(selector)


def shot(page: Any, name: str) -> None:
    screenshot(page, SCREENSHOTS / f"live-mic-stack-{name}.png", full_page=True)


@pytest.mark.timeout(300)  # as the relay test: a whole system and a browser, on a shared machine
def test_a_microphone_session_from_a_phone_page_reaches_its_zone_and_lands_in_the_report(
    e2e: System, watch: StateWatch, mic_browser: Any
) -> None:
    targets, outsider = fleet(e2e, watch)
    ids = sorted(a.device_id for a in targets)
    for path, name in NAMES.items():
        e2e.api.ok("PATCH", f"/zones/{path}", json={"name": name})
    e2e.person(SPEAKER, "operator", ZONE, full_name=SPEAKER_NAME)
    base = e2e.api.base_url

    context = mic_browser.new_context(viewport=PHONE, locale="vi-VN", accept_downloads=True)
    context.set_default_timeout(30_000)  # the machine is shared and often loaded
    page: Any = context.new_page()
    try:
        page.goto(base + "/dang-nhap")
        page.fill("#f-username", SPEAKER)
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()

        # Trực tiếp: a microphone session on the zone, at the normal level.
        page.goto(base + "/truc-tiep")
        page.fill("#f-title", "Họp thôn tối nay")
        page.check(f"input[name=zone][value='{ZONE}']")
        page.click("[data-testid=live-form] button[type=submit]")
        page.wait_for_selector("#live-talk:not([disabled])")
        session_id = page.url.rstrip("/").split("/")[-2]
        occ_id = e2e.api.ok("GET", f"/live/{session_id}")["occurrence_id"]

        # Latched: one press and the microphone stays on, as on a phone held in one hand.
        page.check("#live-latch")
        page.click("#live-talk")
        on_air(targets, TALK_S, MIC_FLOOR)
        wait_for(partial(shows, page, "[data-testid=reached]", "3/3"), "3/3 reached on the page")
        shot(page, "on-air-phone")
        on_page = page.inner_text("#live-mic")
        assert SPEAKER_NAME in on_page, on_page  # who is on air, by name
        assert "Thôn 1" in on_page and ZONE not in on_page, on_page  # where, by name
        assert "Đang nói" in page.inner_text("#live-talk")
        assert "Đang phát" in page.inner_text("#live-status")  # not "ready" while on air
        assert float(page.eval_on_selector("#live-level", "m => m.value")) > 0.01

        page.click("#live-end")
        wait_for(partial(shows, page, "#live-status", "kết thúc"), "the page's end of the session")
        ended(watch, targets, occ_id)

        # The session: finished from the page, with its recording.
        session = wait_for(
            lambda: (s := session_of(e2e, occ_id)) and s["ended_at"] and s, "the session's end"
        )
        assert session["kind"] == "mic" and session["started_by"] == SPEAKER
        assert session["outcome"] == "finished", session
        assert session["recording_sha256"] and session["seconds_streamed"] > 0, session
        assert sorted(session["device_ids"]) == ids

        # The report: the API detail lists the three and links the recording.
        detail = wait_for(partial(reported, e2e, occ_id, 3), "the receipts in the report")
        assert sorted(r["device_id"] for r in detail["devices"]) == ids
        assert detail["delivery"]["failed"] == detail["delivery"]["missed"] == 0
        rec = detail["recording"]
        assert rec is not None and rec["sha256"] == session["recording_sha256"], detail
        assert rec["url"] == f"/api/v1/broadcasts/{occ_id}/recording"
        by_api = e2e.api.request("GET", rec["url"].removeprefix("/api/v1"))
        assert by_api.status_code == 200 and by_api.headers["content-type"] == "audio/mpeg"
        assert httpx.get(base + rec["url"]).status_code == 401  # not without signing in

        # The proof page and Báo cáo: the three loudspeakers and the recording's link.
        link = f"/phat/{occ_id}/ghi-am"
        page.goto(f"{base}/phat/{occ_id}/bang-chung")
        shot(page, "proof-phone")
        proof = page.inner_text("[data-testid=proof]")
        assert all(d in proof for d in ids) and outsider.device_id not in proof, proof
        assert page.get_attribute("[data-testid=recording-link]", "href") == link
        page.goto(f"{base}/bao-cao?zone={ZONE}")
        shot(page, "report-phone")
        assert page.get_attribute("[data-testid=recordings] a[download]", "href") == link
        report = e2e.api.ok("GET", "/reports/playback", params={"zone": ZONE})
        assert [r["url"] for r in report["recordings"]] == [rec["url"]]
        assert sorted(r["device_id"] for r in report["rows"] if r["finished"]) == ids

        # The link downloads the recording for the signed-in person, and for nobody else.
        mine = page.request.get(base + link)
        assert mine.status == 200 and mine.headers["content-type"] == "audio/mpeg"
        assert mine.body() == by_api.content
        anonymous = httpx.get(base + link)  # not followed: a page sends strangers to sign in
        assert anonymous.status_code == 303, anonymous
        assert "/dang-nhap" in anonymous.headers["location"], anonymous.headers
    finally:
        context.close()

    # What was said is what the loudspeakers played, and what was kept.
    recorded = decoded(by_api.content)
    assert band_energy(recorded, MIC_HZ) > 0.5
    for agent in targets:
        assert band_energy(read_mono(live_raw(agent)), MIC_HZ) > 0.5, agent.device_id
        assert kinds(watch, agent.device_id, occ_id) == ["started", "finished"]
    assert not live_raw(outsider).exists()
    assert kinds(watch, outsider.device_id, occ_id) == []
