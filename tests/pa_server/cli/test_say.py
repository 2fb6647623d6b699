"""`pa-server say` end to end with espeak-ng, and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from pa_server.cli import main
from tests.audio.conftest import files_under, measure, wav_bytes


def test_say_espeak_writes_a_real_mp3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.mp3"
    code = main(
        ["say", "Bà con hãy cài đặt Bluezone.", "-o", str(out), "--engine", "espeak",
         "--commune", "Tân Tiến", "--repeat", "2", "--voice", "nam", "--data-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    duration, lufs, peak = measure(out)
    assert 8 < duration < 30
    assert lufs == pytest.approx(-16, abs=1) and peak <= -1
    assert "engines:  espeak" in printed and "miss" in printed and str(out) in printed
    assert "LUFS" in printed and "bytes:" in printed
    again = main(["say", "Bà con hãy cài đặt Bluezone.", "--engine", "espeak", "--commune",
                  "Tân Tiến", "--voice", "nam", "--data-dir", str(tmp_path)])  # fmt: skip
    assert again == 0 and "hit" in capsys.readouterr().out


def test_say_auto_offline_falls_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import responses

    with responses.RequestsMock() as mock:  # no request leaves the machine; all are refused
        code = main(["say", "Xin chào bà con.", "--engine", "auto", "--repeat", "1",
                     "--data-dir", str(tmp_path)])  # fmt: skip
        assert len(mock.calls) == 1
    assert code == 0
    assert "fell back to espeak-ng" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["say", ""], "text is empty"),
        (["say", "x" * 5001], "limit 5,000"),
        (["say", "?!…"], "nothing speakable"),
        (["say", "xin chào", "--engine", "espeak", "--voice", "xx"], "unknown region"),
        (["say", "xin chào", "--speed", "9"], "speed"),
        (["say", "xin chào", "--intro"], "--intro needs"),
        (["say", "xin chào", "--set", "commune=A"], "needs --script"),
        (["say"], "nothing to say"),
        (["say", "--recording", "/nonexistent.wav"], "cannot read recording"),
        (["say", "xin chào", "--format", "opus"], None),  # ok with ffmpeg, else a clear error
    ],
)
def test_say_bad_input_one_line_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str | None
) -> None:
    from audio.encode import find_ffmpeg

    if message is None and find_ffmpeg() is not None:
        pytest.skip("ffmpeg present: Opus works here")
    out = tmp_path / "out" / "o.mp3"
    out.parent.mkdir()
    code = main([*argv, "-o", str(out), "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message is None or message in err
    assert "imageio-ffmpeg" in err or message is not None
    assert files_under(tmp_path / "data" / "media") == [] and not out.exists()


def test_say_corrupt_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "loa.mp3"
    bad.write_bytes(b"\xff\xfb garbage" * 200)
    code = main(["say", "--recording", str(bad), "--data-dir", str(tmp_path / "d")])
    assert code == 2 and "loa.mp3" in capsys.readouterr().err
    assert files_under(tmp_path / "d" / "media") == []


def test_say_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    t = np.arange(22_050) / 22_050
    rec = tmp_path / "loa.wav"
    rec.write_bytes(wav_bytes((0.3 * np.sin(2 * np.pi * 200 * t) * 32767).astype("<i2")))
    code = main(["say", "--recording", str(rec), "--engine", "espeak", "--repeat", "1",
                 "--data-dir", str(tmp_path / "d")])  # fmt: skip
    assert code == 0 and "recording" in capsys.readouterr().out


def test_say_script_with_commune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from announcements import library

    script = next(s for s in library.list_scripts() if "commune" in s.placeholders)
    values = [
        f"--set={p}=Tân Tiến" if p == "commune" else f"--set={p}=1" for p in script.placeholders
    ]
    out = tmp_path / "s.mp3"
    code = main(["say", "--script", script.name, *values, "-o", str(out), "--engine", "espeak",
                 "--data-dir", str(tmp_path)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert measure(out)[0] > 5
    meta_files = list((tmp_path / "media").glob("*.json"))
    assert "Tân Tiến" in meta_files[0].read_text()


@pytest.mark.parametrize(("extra", "message"), [(["--script", "no-such-script"], "no-such-script")])
def test_say_unknown_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code = main(["say", *extra, "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert files_under(tmp_path / "media") == []


def test_say_missing_placeholder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from announcements import library

    script = next(s for s in library.list_scripts() if s.placeholders)
    code = main(["say", "--script", script.name, "--engine", "espeak", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and all(p in err for p in script.placeholders)
    assert files_under(tmp_path / "media") == []
