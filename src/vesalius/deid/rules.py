"""Table E.1-1 as lookups, and the action in force for one attribute under one profile.

PS3.15: "A requirement for an Option, when implemented, overrides any requirement for the
underlying Profile." Where two options in force name different actions for one attribute
(retain-device-identity K and retain-longitudinal-modified-dates C for a calibration
date), the more protective one wins: C (cleaned) over K (kept as is).
Combined codes (X/Z, Z/D, X/Z/D, X/D, X/Z/U*) take their first action unless the
attribute's type in the object's IOD forces the next (``iod.required_type``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from vesalius.deid.profile import Option
from vesalius.deid.tables import e1_1

PRIVATE_TAG = "(gggg,eeee)"


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1."""

    tag: str
    name: str
    basic: str
    options: tuple[tuple[str, str], ...]

    def action(self, options: frozenset[Option]) -> str:
        """The (possibly combined) action code in force under ``options``."""
        applicable = [action for option, action in self.options if option in options]
        if not applicable:
            return self.basic
        return "C" if "C" in applicable else applicable[0]


@dataclass(frozen=True)
class RuleTable:
    by_tag: dict[int, Rule]
    overlay: dict[int, Rule]  # element of the (60xx,eeee) rows
    curve: Rule | None  # (50xx,xxxx): the whole curve group
    private: Rule
    edition: str

    def for_tag(self, tag: int) -> Rule | None:
        return self.by_tag.get(tag)


@functools.cache
def rule_table() -> RuleTable:
    by_tag: dict[int, Rule] = {}
    overlay: dict[int, Rule] = {}
    curve = private = None
    for tag, name, _in_iod, basic, options in e1_1.ROWS:
        rule = Rule(tag, name, basic, options)
        group, element = tag[1:5], tag[6:10]
        if tag == PRIVATE_TAG:
            private = rule
        elif group == "50xx":
            curve = rule
        elif group == "60xx":
            overlay[int(element, 16)] = rule
        else:
            by_tag[int(group + element, 16)] = rule
    if private is None:
        raise RuntimeError("Table E.1-1 has no row for private attributes")
    return RuleTable(by_tag, overlay, curve, private, e1_1.EDITION)


def choose(code: str, required_type: str | None) -> str:
    """One action out of a combined code, given the attribute's type (1, 2, 3 or None).

    Type 2 needs a value that may be empty (Z, else D); Type 1 a real one (D or U, else Z).
    """
    codes = [c.rstrip("*") for c in code.split("/")]
    if len(codes) == 1 or required_type in (None, "3"):
        return codes[0]
    if required_type == "2":
        for candidate in ("Z", "D", "U"):
            if candidate in codes:
                return candidate
    for candidate in ("D", "U", "Z"):
        if candidate in codes:
            return candidate
    return codes[0]
