"""The HTTP API end to end through TestClient, on SQLite and PostgreSQL, with fake audio/MQTT."""

from __future__ import annotations

import io
import wave
from datetime import timedelta
from typing import Any

import pytest

from devices.protocol import Receipt, State
from pa_server.api import deps
from pa_server.messaging.bus import PublishTimeout
from pa_server.services.ingest import ingest_receipt, ingest_state
from pa_server.services.renditions import MAX_RECORDING_BYTES
from tests.pa_server.api.support import V1, approved, schedule_body, seed_zones
from tests.pa_server.server_fixtures import Api


def test_zone_crud_and_tree(api: Api) -> None:
    seed_zones(api)
    tree = api.ok("GET", f"{V1}/zones/tree")
    assert [n["path"] for n in tree] == ["vinh-tuong"]
    child = tree[0]["children"][0]
    assert (child["path"], child["name"], child["device_count"]) == (
        "vinh-tuong/tan-tien",
        "Xã Tân Tiến",
        2,
    )
    assert child["quiet_start"] is None  # inherits
    api.refused(
        "PATCH", f"{V1}/zones/vinh-tuong", "invalid_quiet_hours", json={"quiet_start": "22:00:00"}
    )
    got = api.ok("PATCH", f"{V1}/zones/vinh-tuong/tan-tien", json={"default_volume": 70})
    assert got["default_volume"] == 70
    api.refused("DELETE", f"{V1}/zones/vinh-tuong", "zone_in_use", 409)
    api.refused("GET", f"{V1}/zones/nowhere", "zone_not_found", 404)
    assert api.replans, "a zone change must trigger a replan"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"path": "Vinh Tuong", "name": "x"}, "invalid_slug"),
        ({"path": "a/b/c/d/e/f/g", "name": "x"}, "invalid_slug"),
        ({"path": "vinh-tuong/x", "name": "x"}, "unknown_zone"),
        ({"path": "x", "name": "x", "timezone": "Mars/Olympus"}, "unknown_timezone"),
        ({"path": "x", "name": "x", "surprise": 1}, "invalid_input"),
        ({"path": "tree", "name": "x"}, "invalid_slug"),
    ],
)
def test_bad_zone_is_refused(api: Api, body: dict[str, Any], code: str) -> None:
    api.refused("POST", f"{V1}/zones", code, json=body)
    assert api.ok("GET", f"{V1}/zones") == []


def test_duplicate_zone_and_device_ids(api: Api) -> None:
    seed_zones(api)
    api.refused("POST", f"{V1}/zones", "duplicate_id", json={"path": "vinh-tuong", "name": "x"})
    api.refused(
        "POST", f"{V1}/devices", "duplicate_id", json={"id": "loa-01", "zone": "vinh-tuong"}
    )


def test_devices_crud_and_pages(api: Api) -> None:
    seed_zones(api)
    created = api.ok(
        "POST", f"{V1}/devices", 201, json={"id": "loa-03", "zone": "vinh-tuong", "name": "Loa chợ"}
    )
    assert created["mqtt_username"] == "loa-03" and len(created["mqtt_password"]) >= 24
    page = api.ok("GET", f"{V1}/devices", params={"limit": 2, "offset": 1})
    assert (page["total"], [d["id"] for d in page["items"]]) == (3, ["loa-02", "loa-03"])
    inside = api.ok("GET", f"{V1}/devices", params={"zone": "vinh-tuong/tan-tien"})
    assert [d["id"] for d in inside["items"]] == ["loa-01", "loa-02"]
    moved = api.ok("POST", f"{V1}/devices/loa-03/move", json={"zone": "vinh-tuong/tan-tien"})
    assert api.ok("GET", f"{V1}/devices/{moved['device_id']}")["zone"] == "vinh-tuong/tan-tien"
    api.refused("PATCH", f"{V1}/devices/loa-03", "unknown_zone", json={"zone": "nowhere"})
    api.refused(
        "PATCH", f"{V1}/devices/loa-03", "zone_change_needs_move", json={"zone": "vinh-tuong"}
    )
    api.ok("DELETE", f"{V1}/devices/loa-03", 204)
    api.refused("GET", f"{V1}/devices/loa-03", "device_not_found", 404)
    api.refused("GET", f"{V1}/devices", "invalid_input", params={"limit": 5000})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"id": "Loa 01", "zone": "vinh-tuong"}, "invalid_slug"),
        ({"id": "loa-09", "zone": "nowhere"}, "unknown_zone"),
        ({"id": "loa-09", "zone": "Bad Zone"}, "invalid_slug"),
    ],
)
def test_bad_device_is_refused(api: Api, body: dict[str, Any], code: str) -> None:
    seed_zones(api)
    api.refused("POST", f"{V1}/devices", code, json=body)
    assert api.ok("GET", f"{V1}/devices")["total"] == 2


def test_device_commands_go_to_the_dispatcher(api: Api) -> None:
    seed_zones(api)
    api.ok("POST", f"{V1}/devices/loa-01/ping", 202)
    api.ok("POST", f"{V1}/devices/loa-01/volume", 202, json={"volume": 60})
    api.refused("POST", f"{V1}/devices/loa-01/volume", "invalid_input", json={"volume": 160})
    kinds = [(t, k) for t, k, _ in api.dispatcher.commands]
    assert kinds == [("device:loa-01", "ping"), ("device:loa-01", "volume")]
    assert api.dispatcher.commands[1][2] == {"volume": 60}


def test_device_state_from_the_bus(api: Api) -> None:
    seed_zones(api)
    api.refused("GET", f"{V1}/devices/loa-01/state", "no_state", 404)
    sessions = api.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        state = State(device_id="loa-01", online=True, at=api.clock.now, volume=80)
        assert ingest_state(s, state, now=api.clock.now)
        assert not ingest_state(s, State(device_id="ghost", online=True), now=api.clock.now)
        s.commit()
    got = api.ok("GET", f"{V1}/devices/loa-01/state")
    assert got["online"] is True and got["payload"]["volume"] == 80
    with sessions() as s:  # the LWT: offline, the last full state kept
        ingest_state(s, State(device_id="loa-01", online=False), now=api.clock.now)
        s.commit()
    got = api.ok("GET", f"{V1}/devices/loa-01/state")
    assert got["online"] is False and got["payload"]["volume"] == 80
    assert api.ok("GET", f"{V1}/devices/loa-01")["online"] is False


# --------------------------------------------------------------------------- announcements


def test_announcement_render_approve_and_media(api: Api) -> None:
    ann = approved(api)
    assert ann["status"] == "approved" and ann["approver"] == "duyet"
    rend = ann["rendition"]
    assert rend["url"] == f"http://pa.test:8000/media/{rend['sha256']}.mp3"
    path = f"/media/{rend['sha256']}.mp3"
    full = api.client.get(path)
    assert full.status_code == 200
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert full.headers["etag"] == f'"{rend["sha256"]}"'
    part = api.client.get(path, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == full.content[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{len(full.content)}"
    again = api.client.get(path, headers={"If-None-Match": full.headers["etag"]})
    assert again.status_code == 304
    assert api.client.get("/media/" + "0" * 64 + ".mp3").status_code == 404
    assert api.client.get("/media/../../etc/passwd").status_code == 404
    # approved: no more edits, only archive
    # Changing an approved text returns it to approval: no audio, no approver, not on air.
    edited = api.ok("PATCH", f"{V1}/announcements/{ann['id']}", json={"text": "khác"})
    assert edited["status"] == "draft" and edited["approver"] is None
    assert edited["rendition"] is None and edited["text"] == "khác"
    archived = api.ok("PATCH", f"{V1}/announcements/{ann['id']}", json={"status": "archived"})
    assert archived["status"] == "archived"


def test_announcement_bad_input(api: Api) -> None:
    api.refused(
        "POST", f"{V1}/announcements", "text_too_long", json={"title": "x", "text": "a" * 5001}
    )
    api.refused("POST", f"{V1}/announcements", "empty_text", json={"title": "x", "text": "  "})
    ann = api.ok("POST", f"{V1}/announcements", 201, json={"title": "x", "text": "Xin chào"})
    api.refused("POST", f"{V1}/announcements/{ann['id']}/approve", "not_rendered", 409)
    api.refused(
        "PATCH", f"{V1}/announcements/{ann['id']}", "text_too_long", json={"text": "b" * 5001}
    )
    assert api.ok("GET", f"{V1}/announcements/{ann['id']}")["text"] == "Xin chào"
    assert api.ok("GET", f"{V1}/announcements")["total"] == 1
    api.ok("DELETE", f"{V1}/announcements/{ann['id']}", 204)
    assert api.ok("GET", f"{V1}/announcements")["total"] == 0


def wav_bytes(seconds: float = 0.5) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x01" * int(16000 * seconds))
    return buf.getvalue()


def test_recording_upload(api: Api) -> None:
    ann = api.ok(
        "POST", f"{V1}/announcements", 201, json={"title": "Giọng đọc", "kind": "recording"}
    )
    url = f"{V1}/announcements/{ann['id']}/recording"
    api.refused(
        "POST", url, "not_audio", files={"file": ("x.mp3", b"not audio at all", "audio/mpeg")}
    )
    big = b"\0" * (MAX_RECORDING_BYTES + 1)
    api.refused("POST", url, "upload_too_big", files={"file": ("big.wav", big, "audio/wav")})
    got = api.ok("POST", url, files={"file": ("thong-bao.wav", wav_bytes(), "audio/wav")})
    assert (got["kind"], got["recording_name"]) == ("recording", "thong-bao.wav")
    api.ok("POST", f"{V1}/announcements/{ann['id']}/render")
    assert api.renderer.requests[-1].recording == wav_bytes()


# --------------------------------------------------------------------------- schedules


def test_schedule_crud_and_occurrences(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    sched = api.ok("POST", f"{V1}/schedules", 201, json=schedule_body(ann["id"]))
    assert sched["start"] == "2026-08-09T17:00:00Z"  # 00:00 in Hà Nội
    assert sched["level"] == "normal" and sched["zones"] == ["vinh-tuong/tan-tien"]
    occ = api.ok(
        "GET",
        f"{V1}/schedules/{sched['id']}/occurrences",
        params={"from": "2026-08-10T00:00:00", "to": "2026-08-12T00:00:00"},
    )
    assert [o["play_at"] for o in occ] == [
        "2026-08-09T23:00:00Z",
        "2026-08-10T10:00:00Z",
        "2026-08-10T23:00:00Z",
        "2026-08-11T10:00:00Z",
    ]
    updated = api.ok("PATCH", f"{V1}/schedules/{sched['id']}", json={"devices": ["loa-01"]})
    assert updated["devices"] == ["loa-01"] and updated["rrule"] == sched["rrule"]
    api.ok("DELETE", f"{V1}/schedules/{sched['id']}", 204)
    assert api.ok("GET", f"{V1}/schedules")["total"] == 0


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"rrule": "FREQ=SOMETIMES"}, "invalid_rrule"),
        ({"rrule": "not a rule"}, "invalid_rrule"),
        ({"rrule": "FREQ=MINUTELY"}, "rrule_too_frequent"),
        ({"timezone": "Asia/Nowhere"}, "unknown_timezone"),
        ({"end": "2026-08-01T00:00:00"}, "end_before_start"),
        ({"zones": ["vinh-tuong/nowhere"]}, "unknown_zone"),
        ({"zones": ["Bad Slug"]}, "invalid_slug"),
        ({"zones": [], "devices": ["loa-99"]}, "unknown_device"),
        ({"zones": [], "devices": []}, "no_targets"),
        ({"announcement_id": "nope"}, "unknown_announcement"),
        ({"volume": 101}, "invalid_volume"),
        ({"level": "loud"}, "invalid_input"),
    ],
)
def test_bad_schedule_is_refused(api: Api, over: dict[str, Any], code: str) -> None:
    seed_zones(api)
    ann = approved(api)
    api.refused("POST", f"{V1}/schedules", code, json=schedule_body(ann["id"], **over))
    assert api.ok("GET", f"{V1}/schedules")["total"] == 0


def test_unapproved_announcement_cannot_be_scheduled(api: Api) -> None:
    seed_zones(api)
    draft = api.ok("POST", f"{V1}/announcements", 201, json={"title": "x", "text": "Nháp"})
    api.refused(
        "POST", f"{V1}/schedules", "announcement_not_approved", json=schedule_body(draft["id"])
    )


def test_bad_update_leaves_schedule_unchanged(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    sched = api.ok("POST", f"{V1}/schedules", 201, json=schedule_body(ann["id"]))
    api.refused(
        "PATCH",
        f"{V1}/schedules/{sched['id']}",
        "unknown_zone",
        json={"zones": ["vinh-tuong/tan-tien", "nowhere"]},
    )
    assert api.ok("GET", f"{V1}/schedules/{sched['id']}") == sched


# --------------------------------------------------------------------------- broadcasts


def test_broker_not_taking_commands_is_a_503_but_a_stored_broadcast_stands(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    api.dispatcher.command_error = PublishTimeout("no PUBACK within 10 s")
    for url, body in [("devices/loa-01/ping", None), ("devices/loa-01/volume", {"volume": 40})]:
        api.refused("POST", f"{V1}/{url}", "broker_unavailable", 503, json=body)
    # Stored and committed first: the retained timelines carry it even though `play` failed.
    b = api.ok(
        "POST",
        f"{V1}/broadcasts",
        201,
        json={"announcement_id": ann["id"], "zones": ["vinh-tuong/tan-tien"]},
    )
    assert api.ok("GET", f"{V1}/broadcasts/{b['id']}")["id"] == b["id"] and api.replans
    # A stop that cannot be sent must say so: what plays now keeps playing.
    api.refused("POST", f"{V1}/broadcasts/{b['id']}/stop", "broker_unavailable", 503)
    api.dispatcher.command_error = None
    assert api.ok("POST", f"{V1}/broadcasts/{b['id']}/stop")["id"] == b["id"]
    assert [k for _, k, _ in api.dispatcher.commands] == ["stop"]


def test_with_no_bus_every_command_is_a_503_bus_unavailable(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    b = api.ok(
        "POST",
        f"{V1}/broadcasts",
        201,
        json={"announcement_id": ann["id"], "zones": ["vinh-tuong/tan-tien"]},
    )
    api.client.app.dependency_overrides[deps.get_dispatcher] = lambda: None  # type: ignore[attr-defined]
    body = {"announcement_id": ann["id"], "zones": ["vinh-tuong/tan-tien"]}
    for url, payload in [
        ("devices/loa-01/ping", None),
        ("devices/loa-01/volume", {"volume": 40}),
        ("broadcasts", body),
        (f"broadcasts/{b['id']}/stop", None),
    ]:
        api.refused("POST", f"{V1}/{url}", "bus_unavailable", 503, json=payload)
    assert api.ok("GET", f"{V1}/broadcasts/{b['id']}")["status"] == "sent"  # nothing written


def test_only_an_emergency_broadcast_sounds_in_quiet_hours(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    api.clock.advance(hours=-1)  # 04:00 in Hà Nội: inside the default 21:30–05:00
    body = {"announcement_id": ann["id"], "zones": ["vinh-tuong/tan-tien"]}
    detail = api.refused("POST", f"{V1}/broadcasts", "quiet_hours", json=body)
    assert "21:30" in detail["message"] and not api.dispatcher.commands
    api.refused(
        "POST", f"{V1}/broadcasts", "quiet_hours", json={**body, "devices": ["loa-01"], "zones": []}
    )
    b = api.ok(
        "POST",
        f"{V1}/broadcasts?confirm_emergency=true",
        201,
        json={**body, "level": "emergency"},
    )
    assert b["priority"] == 100
    # A commune that sets no quiet hours (start == end) may broadcast at any hour.
    api.ok(
        "PATCH",
        f"{V1}/zones/vinh-tuong/tan-tien",
        json={"quiet_start": "00:00", "quiet_end": "00:00"},
    )
    api.ok("POST", f"{V1}/broadcasts", 201, json=body)


def test_immediate_broadcast_delivery_stop_and_report(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    api.refused(
        "POST",
        f"{V1}/broadcasts",
        "unknown_zone",
        json={"announcement_id": ann["id"], "zones": ["x"]},
    )
    b = api.ok(
        "POST",
        f"{V1}/broadcasts?confirm_emergency=true",  # emergencies need explicit confirmation
        201,
        json={"announcement_id": ann["id"], "zones": ["vinh-tuong/tan-tien"], "level": "emergency"},
    )
    assert b["priority"] == 100 and b["delivery"]["expected"] == 2
    target, kind, item = api.dispatcher.commands[-1]
    assert (target, kind, item.occurrence_id) == ("zone:vinh-tuong/tan-tien", "play", b["id"])
    assert item.media.url == ann["rendition"]["url"]
    # A common start instant a few seconds ahead, and a replan to put it on the timelines.
    lead = timedelta(seconds=api.settings.emergency_lead_s)
    assert item.play_at == api.clock.now + lead and api.replans
    sessions = api.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        for kind_ in ("fetched", "started", "finished", "finished"):
            ingest_receipt(
                s,
                Receipt(
                    device_id="loa-01",
                    occurrence_id=b["id"],
                    type=kind_,
                    at=api.clock.now,
                    late_ms=3,
                ),
                now=api.clock.now,
            )
        ingest_receipt(
            s,
            Receipt(
                device_id="loa-02",
                occurrence_id=b["id"],
                type="failed",
                at=api.clock.now,
                detail="no sound card",
            ),
            now=api.clock.now,
        )
        assert not ingest_receipt(
            s,
            Receipt(device_id="loa-01", occurrence_id="ghost", type="started", at=api.clock.now),
            now=api.clock.now,
        )
        s.commit()
    detail = api.ok("GET", f"{V1}/broadcasts/{b['id']}")
    assert detail["delivery"] == {
        "expected": 2,
        "fetched": 1,
        "started": 1,
        "finished": 1,
        "failed": 1,
        "skipped": 0,
        "missed": 0,
    }
    loa1 = detail["devices"][0]
    assert loa1["device_id"] == "loa-01" and loa1["finished"] and loa1["late_ms"] == 3
    listed = api.ok("GET", f"{V1}/broadcasts")
    assert listed["total"] == 1 and listed["items"][0]["delivery"]["finished"] == 1

    stopped = api.ok("POST", f"{V1}/broadcasts/{b['id']}/stop")
    assert stopped["status"] == "stopped"
    assert api.dispatcher.commands[-1][1] == "stop"

    window = {
        "from": (api.clock.now - timedelta(hours=1)).isoformat(),
        "to": (api.clock.now + timedelta(hours=1)).isoformat(),
    }
    report = api.ok("GET", f"{V1}/reports/playback", params={**window, "zone": "vinh-tuong"})
    rows = {r["device_id"]: r for r in report["rows"]}
    assert rows["loa-01"]["planned"] == 1 and rows["loa-01"]["finished"] == 1
    assert rows["loa-02"]["failed"] == 1 and rows["loa-02"]["no_report"] == 0
    csv = api.client.get(f"{V1}/reports/playback", params={**window, "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "zone,device_id,planned,started,finished,failed,missed,no_report"
    assert "vinh-tuong/tan-tien,loa-01,1,1,1,0,0,0" in lines
    api.refused("GET", f"{V1}/reports/playback", "unknown_zone", params={"zone": "nowhere"})


def test_keys_and_openapi(api: Api) -> None:
    assert api.ok("GET", "/healthz") == {"status": "ok", "dispatcher": False}  # no runtime
    assert api.ok("GET", f"{V1}/keys")["keys"][0]["alg"] == "Ed25519"
    paths = api.ok("GET", "/openapi.json")["paths"]
    for path in (
        "/api/v1/zones/tree",
        "/api/v1/devices/{device_id}/ping",
        "/api/v1/announcements/{announcement_id}/recording",
        "/api/v1/schedules/{schedule_id}/occurrences",
        "/api/v1/broadcasts/{occurrence_id}/stop",
        "/api/v1/reports/playback",
        "/media/{name}",
    ):
        assert path in paths
    assert api.client.get("/docs").status_code == 200


def test_scripts_list_fill_and_compose(api: Api) -> None:
    names = [s["name"] for s in api.ok("GET", f"{V1}/scripts")]
    assert "bluezone-cai-dat" in names
    script = api.ok("GET", f"{V1}/scripts/bluezone-cai-dat")
    assert set(script["placeholders"]) == {"commune", "district", "hotline"}
    values = {"commune": "Tân Tiến", "district": "Vĩnh Tường", "hotline": "0211 3855 123"}
    filled = api.ok("POST", f"{V1}/scripts/bluezone-cai-dat/render", json={"values": values})
    assert "xã Tân Tiến" in filled["text"] and "{" not in filled["text"]
    api.refused(
        "POST",
        f"{V1}/scripts/bluezone-cai-dat/render",
        "missing_placeholder",
        json={"values": {"commune": "Tân Tiến"}},
    )
    api.refused(
        "POST",
        f"{V1}/scripts/bluezone-cai-dat/render",
        "unknown_placeholder",
        json={"values": {**values, "extra": "x"}},
    )
    # A script named in the URL that does not exist is a 404; one named in a body, a 422.
    api.refused("POST", f"{V1}/scripts/nope/render", "unknown_script", 404, json={"values": {}})
    api.refused("GET", f"{V1}/scripts/nope", "unknown_script", 404)
    api.refused(
        "POST",
        f"{V1}/announcements",
        "unknown_script",
        json={"title": "x", "script_name": "nope", "placeholders": {}},
    )
    ann = api.ok(
        "POST",
        f"{V1}/announcements",
        201,
        json={"title": "Bluezone", "script_name": "bluezone-cai-dat", "placeholders": values},
    )
    assert ann["text"] == filled["text"] and ann["placeholders"] == values
    api.refused(
        "POST",
        f"{V1}/announcements",
        "missing_placeholder",
        json={"title": "x", "script_name": "bluezone-cai-dat", "placeholders": {}},
    )


def test_real_renderer_offline_voice(api: Api) -> None:
    """The app's own audio.render.Renderer (espeak-ng, no network) behind the same route."""
    from pa_server.api import deps

    api.client.app.dependency_overrides.pop(deps.get_renderer)  # type: ignore[attr-defined]
    ann = api.ok(
        "POST",
        f"{V1}/announcements",
        201,
        json={"title": "Thử", "text": "Xin chào bà con xã Tân Tiến."},
    )
    rend = api.ok(
        "POST", f"{V1}/announcements/{ann['id']}/render", json={"engine": "espeak", "repeat": 1}
    )
    assert rend["engines"] == ["espeak"] and rend["duration_ms"] > 1000
    media = api.client.get(rend["url"].removeprefix("http://pa.test:8000"))
    assert media.status_code == 200 and len(media.content) == rend["bytes"]
    assert media.headers["content-type"] == "audio/mpeg"


def test_metrics_read_the_database(api: Api) -> None:
    seed_zones(api)
    text = api.client.get("/metrics").text
    assert "pa_agents_known 2.0" in text or "pa_agents_known 2" in text


@pytest.mark.parametrize(
    ("method", "url", "code", "body"),
    [
        ("GET", "/zones/vinh-tuong/nowhere", "zone_not_found", None),
        ("PATCH", "/zones/nowhere", "zone_not_found", {"name": "x"}),
        ("DELETE", "/zones/nowhere", "zone_not_found", None),
        ("GET", "/devices/ghost", "device_not_found", None),
        ("PATCH", "/devices/ghost", "device_not_found", {"name": "x"}),
        ("DELETE", "/devices/ghost", "device_not_found", None),
        ("GET", "/devices/ghost/state", "device_not_found", None),
        ("POST", "/devices/ghost/ping", "device_not_found", None),
        ("POST", "/devices/ghost/volume", "device_not_found", {"volume": 50}),
        ("GET", "/announcements/ghost", "announcement_not_found", None),
        ("PATCH", "/announcements/ghost", "announcement_not_found", {"title": "x"}),
        ("DELETE", "/announcements/ghost", "announcement_not_found", None),
        ("POST", "/announcements/ghost/render", "announcement_not_found", None),
        ("POST", "/announcements/ghost/approve", "announcement_not_found", None),
        ("GET", "/schedules/ghost", "schedule_not_found", None),
        ("PATCH", "/schedules/ghost", "schedule_not_found", {"title": "x"}),
        ("DELETE", "/schedules/ghost", "schedule_not_found", None),
        ("GET", "/schedules/ghost/occurrences", "schedule_not_found", None),
        ("GET", "/broadcasts/ghost", "broadcast_not_found", None),
        ("POST", "/broadcasts/ghost/stop", "broadcast_not_found", None),
        ("GET", "/scripts/ghost", "unknown_script", None),
    ],
)
def test_unknown_resource_in_the_path_is_404(
    api: Api, method: str, url: str, code: str, body: dict[str, Any] | None
) -> None:
    seed_zones(api)
    api.refused(method, f"{V1}{url}", code, 404, json=body)
