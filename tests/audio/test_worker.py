"""The render worker (the server's path) and `pa-server say` give the same bytes; bounded queue."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pytest

from audio.errors import BadOptions, BadText, RenderBusy
from audio.options import RenderOptions
from audio.render import RenderRequest
from audio.worker import RendererConfig, RenderWorker
from pa_server.cli import main

TEXT = "Bà con hãy cài đặt ứng dụng Bluezone, để phòng dịch. Xin cảm ơn."
OPTIONS = RenderOptions(
    engine="espeak",
    region="trung",
    speed=1.1,
    repeat=2,
    repeat_pause_ms=800,
    comma_pause_ms=450,
    sentence_pause_ms=700,
    commune="Tân Tiến",
)


def config(root: Path) -> RendererConfig:
    return RendererConfig(root / "media", root / "cache")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_worker_cli_and_direct_render_are_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = RenderRequest(text=TEXT, options=OPTIONS)
    with RenderWorker(config(tmp_path / "server"), processes=1, max_pending=1) as worker:
        served = worker.render(req)  # in a spawned worker process, fresh caches
        again = asyncio.run(worker.render_async(req))
        with pytest.raises(BadText, match="empty"):  # errors come back with their own type
            worker.render(RenderRequest(text="  ", options=OPTIONS))
    assert not served.cache_hit and again.cache_hit and again.sha256 == served.sha256
    assert served.engines == ("espeak",) and sha(served.path) == served.sha256

    direct = config(tmp_path / "direct").build().render(req)  # in this process, fresh caches
    assert direct.sha256 == served.sha256 and not direct.cache_hit

    # the CLI with the stored options, and with the same choices as flags: same file again
    out_json, out_flags = tmp_path / "json.mp3", tmp_path / "flags.mp3"
    code = main(["say", TEXT, "--options", OPTIONS.to_json(), "-o", str(out_json),
                 "--data-dir", str(tmp_path / "cli1")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    code = main(["say", TEXT, "--engine", "espeak", "--region", "central", "--speed", "1.1",
                 "--repeat", "2", "--repeat-pause", "800", "--comma-pause", "450",
                 "--sentence-pause", "700", "--commune", "Tân Tiến", "-o", str(out_flags),
                 "--data-dir", str(tmp_path / "cli2")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert sha(out_json) == sha(out_flags) == served.sha256
    assert f"sha256:   {served.sha256}" in capsys.readouterr().out

    # and any option changes the bytes (the comparison above could not pass by accident)
    other = (
        config(tmp_path / "direct")
        .build()
        .render(
            RenderRequest(
                text=TEXT, options=RenderOptions(**{**OPTIONS.to_dict(), "comma_pause_ms": 0})
            )
        )
    )
    assert other.sha256 != served.sha256


class _Stuck(Executor):
    """An executor whose work never finishes (until released): the worker's queue fills."""

    def __init__(self) -> None:
        self.futures: list[Future[Any]] = []
        self.fail_with: BaseException | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        if self.fail_with is not None:
            future.set_exception(self.fail_with)
        self.futures.append(future)
        return future


def test_the_queue_is_bounded(tmp_path: Path) -> None:
    stuck = _Stuck()
    worker = RenderWorker(config(tmp_path), processes=1, max_pending=2, executor=stuck)
    req = RenderRequest(text=TEXT)
    for _ in range(3):  # one running, two waiting
        worker.submit(req)
    with pytest.raises(RenderBusy, match="3 renders are running or waiting"):
        worker.submit(req)
    stuck.futures[0].set_result(None)  # one finishes: one more may wait
    worker.submit(req)
    with pytest.raises(RenderBusy):
        worker.submit(req)
    for f in stuck.futures:
        if not f.done():
            f.cancel()


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="processes"):
        RenderWorker(config(tmp_path), processes=0, executor=_Stuck())


def test_cli_reports_bad_options_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["say", TEXT, "--repeat", "9", "--comma-pause", "-5", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "repeat 9 is outside 1–5" in err and "comma_pause_ms -5 ms is outside" in err
    code = main(["say", TEXT, "--options", '{"speed": "fast"}', "--data-dir", str(tmp_path)])
    assert code == 2 and "speed must be a number" in capsys.readouterr().err
    assert not (tmp_path / "media").exists()
    with pytest.raises(BadOptions):
        RenderOptions.from_json('{"speed": "fast"}')


def test_a_dead_worker_is_replaced_and_the_render_refused_for_retry(tmp_path: Path) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from audio.errors import RenderCrashed

    stuck = _Stuck()
    worker = RenderWorker(config(tmp_path), processes=1, max_pending=0, executor=stuck)
    stuck.fail_with = BrokenProcessPool("killed by the OOM killer")
    with pytest.raises(RenderCrashed, match="died during this render"):
        worker.render(RenderRequest(text=TEXT))
    assert worker.restarts == 1
    stuck.fail_with = None
    worker.submit(RenderRequest(text=TEXT))  # the slot came back: the next render is taken
    assert isinstance(RenderCrashed("x"), RenderBusy)  # the API answers 503, retry later
