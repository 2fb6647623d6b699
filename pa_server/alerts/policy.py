"""The district's alert policy: CAP severity/urgency/certainty → TT39 level, what may go on
air without a person, how often it repeats, and whether a Cancel is announced.

Read from a TOML file (the shipped `policy.toml` beside this module, or `PA_ALERT_POLICY_FILE`),
validated once; `[zones."<path>"]` tables override `[default]` for the zones within them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pa_server.alerts import CapError

DEFAULT_FILE = Path(__file__).with_name("policy.toml")
LEVELS = ("normal", "priority", "emergency")
_SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
_KEYS = {
    "severity_level",
    "raise_to_emergency",
    "auto_levels",
    "repeat_hours",
    "cancel_notice",
    "upload_roles",
}


@dataclass(frozen=True)
class ZonePolicy:
    """The policy that holds in one zone."""

    severity_level: dict[str, str]
    raise_to_emergency: tuple[dict[str, Any], ...]
    auto_levels: frozenset[str]
    repeat_hours: dict[str, int]
    cancel_notice: bool
    upload_roles: frozenset[str]

    def level(self, severity: str, urgency: str, certainty: str) -> str:
        """The TT39 level of an alert with these CAP values."""
        for rule in self.raise_to_emergency:
            if (
                _matches(rule.get("severity"), severity)
                and _matches(rule.get("urgency"), urgency)
                and _matches(rule.get("certainty"), certainty)
            ):
                return "emergency"
        return self.severity_level.get(severity, "normal")


def _matches(wanted: Any, value: str) -> bool:
    if wanted is None:
        return True
    return value in wanted if isinstance(wanted, list) else value == wanted


def _check(table: dict[str, Any], where: str) -> None:
    unknown = set(table) - _KEYS
    if unknown:
        raise CapError("bad_policy", f"{where}: unknown keys {sorted(unknown)}")
    for sev, level in table.get("severity_level", {}).items():
        if sev not in _SEVERITIES or level not in LEVELS:
            raise CapError("bad_policy", f"{where}: severity_level {sev} = {level!r}")
    for level in table.get("auto_levels", []):
        if level not in LEVELS:
            raise CapError("bad_policy", f"{where}: auto_levels has {level!r}")
    for level, hours in table.get("repeat_hours", {}).items():
        if level not in LEVELS or not isinstance(hours, int) or hours < 1:
            raise CapError("bad_policy", f"{where}: repeat_hours {level} = {hours!r}")


@dataclass(frozen=True)
class Policy:
    """The whole policy file: a default and per-zone overrides."""

    default: dict[str, Any]
    zones: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        """Read and check the policy file (`CapError` on a bad one)."""
        with (path or DEFAULT_FILE).open("rb") as handle:
            data = tomllib.load(handle)
        default = data.get("default", {})
        _check(default, "[default]")
        if set(_KEYS) - set(default):
            raise CapError("bad_policy", f"[default] lacks {sorted(_KEYS - set(default))}")
        zones = {k.strip("/"): v for k, v in data.get("zones", {}).items()}
        for key, table in zones.items():
            _check(table, f"[zones.{key!r}]")
        return cls(default=default, zones=zones)

    def for_zone(self, zone_path: str) -> ZonePolicy:
        """The policy in `zone_path`: the default overlaid by enclosing zones, outermost first."""
        merged = dict(self.default)
        for key in sorted(self.zones, key=len):
            if zone_path == key or zone_path.startswith(key + "/"):
                merged.update(self.zones[key])
        return ZonePolicy(
            severity_level=dict(merged["severity_level"]),
            raise_to_emergency=tuple(merged["raise_to_emergency"]),
            auto_levels=frozenset(merged["auto_levels"]),
            repeat_hours={**dict.fromkeys(LEVELS, 24), **merged["repeat_hours"]},
            cancel_notice=bool(merged["cancel_notice"]),
            upload_roles=frozenset(merged["upload_roles"]),
        )

    def decide(
        self, zones: Iterable[str], severity: str, urgency: str, certainty: str
    ) -> tuple[str, bool, int]:
        """(level, on air without approval, repeat hours) of an alert over `zones`.

        The level is the highest any zone's policy gives; "alone" is True only when every
        zone's policy allows that level so (else see `waiting_zones`: the alert is split);
        it repeats at the shortest interval among them.
        """
        policies = [self.for_zone(z) for z in zones] or [self.for_zone("")]
        level = max((p.level(severity, urgency, certainty) for p in policies), key=LEVELS.index)
        auto = all(level in p.auto_levels for p in policies)
        hours = min(p.repeat_hours[level] for p in policies)
        return level, auto, hours

    def waiting_zones(self, zones: Iterable[str], level: str) -> list[str]:
        """Those of `zones` whose policy wants a person to approve `level` (the others may
        hear it at once): an alert over both is split rather than held back everywhere."""
        return [z for z in zones if level not in self.for_zone(z).auto_levels]
