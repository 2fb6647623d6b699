"""The reading rules (`reading.toml` beside this file): which words around a number decide how
it is read — quantity, date, house number, fraction, ratio, score, document number, unit slash,
prefixes."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from announcements.errors import ReadingRulesError

DEFAULT_FILE = Path(__file__).with_name("reading.toml")


def words_pattern(words: Iterable[str]) -> str:
    """A regex alternation of whole words/phrases, longest first, any letter case."""
    alts = sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True)
    body = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in alts) or r"(?!)"
    return rf"(?i:{body})"


@dataclass(frozen=True)
class PerUnit:
    """How "unit/denominator" is said: the denominator's words and the linking word."""

    spoken: str
    after_money: str
    after_other: str


@dataclass(frozen=True)
class ReadingRules:
    """Word lists and tables that decide readings; see the comments in `reading.toml`."""

    quantity_nouns: tuple[str, ...]
    date_strong_before: tuple[str, ...]
    date_before: tuple[str, ...]
    name_before: tuple[str, ...]
    address_before: tuple[str, ...]
    address_number_before: tuple[str, ...]
    address_after: tuple[str, ...]
    fraction_after: tuple[str, ...]
    fraction_before: tuple[str, ...]
    small_denominator: int
    date_after: tuple[str, ...]
    idioms: Mapping[str, str]
    ratio_before: tuple[str, ...]
    score_before: tuple[str, ...]
    document_before: tuple[str, ...]
    code_before: tuple[str, ...]
    document_types: Mapping[str, str]
    weekdays: Mapping[str, str]
    money_units: tuple[str, ...]
    other_units: tuple[str, ...]
    denominators: Mapping[str, PerUnit]
    prefixes: Mapping[str, tuple[str, str]]


def _words(data: Mapping[str, Any], table: str, key: str) -> tuple[str, ...]:
    value = data.get(table, {}).get(key) if isinstance(data.get(table), dict) else None
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise ReadingRulesError(f"reading rules: [{table}] {key} must be a list of words")
    return tuple(value)


def _integer(data: Mapping[str, Any], table: str, key: str) -> int:
    value = data.get(table, {}).get(key) if isinstance(data.get(table), dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ReadingRulesError(f"reading rules: [{table}] {key} must be a whole number")
    return value


def _no_digits(where: str, spoken: str) -> str:
    if re.search(r"[0-9]", spoken):
        raise ReadingRulesError(f"reading rules: {where}: spoken form has digits: {spoken!r}")
    return spoken


def parse_rules(data: Mapping[str, Any]) -> ReadingRules:
    """Check and convert the parsed TOML (raises ReadingRulesError naming the bad entry)."""
    try:
        idioms = {str(k): _no_digits(f"idiom {k}", str(v)) for k, v in data["idioms"].items()}
        weekdays = {str(k): _no_digits(f"weekday {k}", str(v)) for k, v in data["weekdays"].items()}
        document_types = {
            str(k): _no_digits(f"document type {k}", str(v))
            for k, v in data["document"]["types"].items()
        }
        denominators = {}
        for k, v in data["per_unit"]["denominators"].items():
            if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, str) for x in v)):
                raise ReadingRulesError(f"reading rules: denominator {k!r} needs 3 strings")
            denominators[str(k)] = PerUnit(*(_no_digits(f"denominator {k}", x) for x in v))
        prefixes = {}
        for k, v in data["prefixes"].items():
            if not (isinstance(v, list) and len(v) == 2 and v[1] in ("name", "number", "both")):
                raise ReadingRulesError(
                    f"reading rules: prefix {k!r} needs [spoken, name|number|both]"
                )
            prefixes[str(k)] = (_no_digits(f"prefix {k}", v[0]), v[1])
    except (KeyError, AttributeError, TypeError) as exc:
        raise ReadingRulesError(f"reading rules: missing or malformed table: {exc}") from exc
    return ReadingRules(
        quantity_nouns=_words(data, "quantity", "nouns"),
        date_strong_before=_words(data, "date", "strong_before"),
        date_before=_words(data, "date", "before"),
        name_before=_words(data, "date", "name_before"),
        address_before=_words(data, "address", "before"),
        address_number_before=_words(data, "address", "number_before"),
        address_after=_words(data, "address", "after"),
        fraction_after=_words(data, "fraction", "after"),
        fraction_before=_words(data, "fraction", "before"),
        small_denominator=_integer(data, "fraction", "small_denominator"),
        date_after=_words(data, "fraction", "date_after"),
        idioms=idioms,
        ratio_before=_words(data, "ratio", "before"),
        score_before=_words(data, "score", "before"),
        document_before=_words(data, "document", "before"),
        code_before=_words(data, "code", "before"),
        document_types=document_types,
        weekdays=weekdays,
        money_units=_words(data, "per_unit", "money_units"),
        other_units=_words(data, "per_unit", "other_units"),
        denominators=denominators,
        prefixes=prefixes,
    )


def load_rules(path: Path) -> ReadingRules:
    """Read reading rules from a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReadingRulesError(f"cannot read reading rules {path}: {exc}") from exc
    return parse_rules(data)


@cache
def default_rules() -> ReadingRules:
    """The rules shipped beside this module."""
    return load_rules(DEFAULT_FILE)
