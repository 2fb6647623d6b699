"""/api/v1/live: start, read, stop; a relay to schedule; live off says why (503)."""

from __future__ import annotations

from typing import Any

from audio.store import MediaStore
from pa_server.api import deps
from pa_server.db.models import LiveSessionRow
from pa_server.live.engine import FakeLiveEngine
from pa_server.live.sources import SilentRelay
from pa_server.services.live import LiveHub
from tests.pa_server.api.support import V1, seed_zones
from tests.pa_server.server_fixtures import Api, FakeDispatcher


def _hub(api: Api) -> tuple[LiveHub, FakeLiveEngine]:
    app = api.client.app
    engine = FakeLiveEngine(clock=api.clock)
    dispatcher: FakeDispatcher = api.dispatcher
    hub = LiveHub(
        engine,
        mics=app.state.live_mics,  # type: ignore[attr-defined]
        sessions=app.state.sessions,  # type: ignore[attr-defined]
        dispatcher=lambda: dispatcher,
        relay_source=SilentRelay,
        clock=api.clock,
    )
    app.dependency_overrides[deps.get_live] = lambda: hub  # type: ignore[attr-defined]
    return hub, engine


def test_live_is_unavailable_without_an_engine(api: Api) -> None:
    seed_zones(api)
    body = {"title": "Họp", "zones": ["vinh-tuong/tan-tien"]}
    detail = api.refused("POST", f"{V1}/live/mic", "live_unavailable", 503, json=body)
    assert "phát trực tiếp" in detail["message"]


def test_relay_and_microphone_start_read_and_stop(api: Api) -> None:
    seed_zones(api)
    _, engine = _hub(api)
    body = {"title": "Tiếp sóng", "zones": ["vinh-tuong/tan-tien"], "url": "http://r.test/a.mp3"}
    relay = api.ok("POST", f"{V1}/live/relay", 201, json=body)
    assert relay["kind"] == "relay" and relay["device_ids"] == ["loa-01", "loa-02"]
    mic = api.ok("POST", f"{V1}/live/mic", 201, json={**body, "url": None, "title": "Họp"})
    assert mic["mic_path"] == f"/api/v1/live/{mic['id']}/mic" and mic["mic_token"]
    api.ok("POST", f"{V1}/live/relay", 201, json=body)
    api.ok("POST", f"{V1}/live/relay", 201, json=body)
    # The fake pool has 4 streams: a fifth is refused, and the attempt is on record as failed.
    api.refused("POST", f"{V1}/live/relay", "no_free_stream", 409, json=body)
    listed = api.ok("GET", f"{V1}/live")
    assert listed["total"] == 5
    assert [s["outcome"] for s in listed["items"]].count("failed") == 1
    got = api.ok("GET", f"{V1}/live/{relay['id']}")
    assert got["ended_at"] is None and got["reached"] == []
    stopped = api.ok("POST", f"{V1}/live/{relay['id']}/stop")
    assert stopped["outcome"] == "stopped" and stopped["ended_at"]
    api.refused("POST", f"{V1}/live/{relay['id']}/stop", "live_session_ended", 409)
    api.refused("GET", f"{V1}/live/nope", "live_session_not_found", 404)
    api.refused(
        "POST", f"{V1}/live/relay", "bad_source_url", 422, json={**body, "url": "file:///etc/x"}
    )
    assert len(engine.sessions()) == 3


def test_a_relay_to_schedule_is_a_draft_announcement(api: Api) -> None:
    body = {"title": "Tiếp sóng VOV1", "url": "https://vov.test/vov1.m3u8", "minutes": 30}
    ann = api.ok("POST", f"{V1}/live/relays", 201, json=body)
    assert (ann["kind"], ann["status"]) == ("relay", "draft")
    assert (ann["source_url"], ann["relay_duration_s"]) == (body["url"], 1800)


def test_a_live_broadcasts_recording_is_linked_from_its_report_for_signed_in_people(
    api: Api,
) -> None:
    seed_zones(api)
    _, engine = _hub(api)
    app: Any = api.client.app
    body = {"title": "Họp thôn", "zones": ["vinh-tuong/tan-tien"]}
    mic = api.ok("POST", f"{V1}/live/mic", 201, json=body)
    occ = mic["occurrence_id"]
    # On air, nothing kept yet: no recording to link.
    assert api.ok("GET", f"{V1}/broadcasts/{occ}")["recording"] is None
    api.refused("GET", f"{V1}/broadcasts/{occ}/recording", "recording_not_found", 404)

    # The engine ends the session and keeps its recording in the media store.
    engine.end(mic["id"], "finished")
    mp3 = b"ID3 the words said into the microphone"
    sha = MediaStore(api.settings.media_dir).put(mp3, "mp3", {"kind": "live-recording"})
    with app.state.sessions() as db:
        row = db.get(LiveSessionRow, mic["id"])
        row.recording_sha256, row.seconds_streamed = sha, 12.5
        db.commit()

    rec = api.ok("GET", f"{V1}/broadcasts/{occ}")["recording"]
    assert (rec["sha256"], rec["seconds"], rec["session_id"]) == (sha, 12.5, mic["id"])
    assert rec["url"] == f"/api/v1/broadcasts/{occ}/recording"
    got = api.client.get(rec["url"])
    assert got.status_code == 200 and got.content == mp3
    assert got.headers["content-type"] == "audio/mpeg"
    window = {"from": "2026-01-01T00:00:00", "to": "2027-01-01T00:00:00"}
    report = api.ok("GET", f"{V1}/reports/playback", params={**window, "zone": "vinh-tuong"})
    assert [r["url"] for r in report["recordings"]] == [rec["url"]]
    api.ok("POST", f"{V1}/zones", 201, json={"path": "vinh-tuong/khac", "name": "Xã Khác"})
    other = {**window, "zone": "vinh-tuong/khac"}
    elsewhere = api.ok("GET", f"{V1}/reports/playback", params=other)
    assert elsewhere["recordings"] == []  # the zone did not hear it

    # Not without signing in (the media store's own address is for the loudspeakers).
    del app.dependency_overrides[deps.current_user]
    assert api.client.get(rec["url"]).status_code == 401


def test_hostile_live_bodies_are_422_and_start_nothing(api: Api) -> None:
    """Huge, negative and fractional minutes, enormous or hidden titles, NUL, a loopback or
    metadata relay URL: each a 422 with its code, and no session on record."""
    seed_zones(api)
    _, engine = _hub(api)
    body = {"title": "Tiếp sóng", "zones": ["vinh-tuong/tan-tien"], "url": "http://r.test/a.mp3"}
    for change in (
        {"minutes": 10**12},
        {"minutes": -1},
        {"minutes": 0},
        {"minutes": 1.5},
        {"minutes": "mười"},
        {"title": "x" * 100_000},
        {"title": "Tiếp\x00sóng"},
        {"title": "\u202enád póH"},
        {"title": "Tiếp\u200bsóng"},
        {"zones": ["vinh-tuong/tan-tien\x00"]},
        {"volume": 101},
    ):
        response = api.client.post(f"{V1}/live/relay", json={**body, **change})
        assert response.status_code == 422, (change, response.text)
    for url, code in (
        ("http://127.0.0.1:8000/media/x.mp3", "relay_host_refused"),
        ("http://169.254.169.254/latest/meta-data/", "relay_host_refused"),
        ("concat:http://r.test/a.mp3|file:///etc/passwd", "bad_source_url"),
    ):
        api.refused("POST", f"{V1}/live/relay", code, 422, json={**body, "url": url})
        relay = {"title": "VOV1", "url": url, "minutes": 30}
        api.refused("POST", f"{V1}/live/relays", code, 422, json=relay)
    assert api.ok("GET", f"{V1}/live")["total"] == 0 and engine.sessions() == []
