"""`pa-server user add/list/token`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pa_server.cli import main
from pa_server.config import get_settings


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_add_list_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["zone", "add", "Huyện Thử"]) == 0
    assert main(["zone", "add", "Xã A", "--parent", "huyen-thu"]) == 0
    assert capsys.readouterr().out.split() == ["huyen-thu", "huyen-thu/xa-a"]
    _stdin(monkeypatch, "mat-khau-dai-1\n")
    argv = ["user", "add", "VanHanh", "--role", "operator", "--zone", "huyen-thu/xa-a"]
    assert main([*argv, "--password-stdin"]) == 0
    assert "added vanhanh (operator; huyen-thu/xa-a)" in capsys.readouterr().out
    assert main(["user", "list"]) == 0
    assert "vanhanh\toperator\thuyen-thu/xa-a" in capsys.readouterr().out
    assert main(["user", "token", "vanhanh", "--label", "cron"]) == 0
    assert capsys.readouterr().out.startswith("pa_")
    _stdin(monkeypatch, "mat-khau-moi-22\n")
    assert main(["user", "passwd", "VanHanh", "--password-stdin"]) == 0
    assert "open sessions are closed" in capsys.readouterr().out
    # The zone tree at the console: rename keeps the path; a zone in use is not removed.
    assert main(["zone", "rename", "huyen-thu/xa-a", "Xã A Mới"]) == 0
    assert main(["zone", "list"]) == 0
    assert "huyen-thu/xa-a\tXã A Mới" in capsys.readouterr().out
    assert main(["zone", "remove", "huyen-thu/xa-a"]) == 2  # vanhanh works there
    assert "zone_in_use" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["user", "add", "an", "--role", "operator"], "mat-khau-dai-1\n", "operator_needs_zone"),
        (
            ["user", "add", "an", "--role", "operator", "--zone", "khong-co"],
            "mat-khau-dai-1\n",
            "unknown_zone",
        ),
        (["user", "add", "an", "--role", "viewer"], "ngan\n", "weak_password"),
        (["user", "token", "khongco"], "", "no user named"),
    ],
)
def test_refusals_are_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    _stdin(monkeypatch, stdin)
    extra = ["--password-stdin"] if argv[1] == "add" else []
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
