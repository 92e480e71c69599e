"""A de-identification profile: PS3.15 options plus a project's own overrides.

A profile is a plain value (hashable, picklable, JSON-able through ``to_mapping``) so that
it can be read from a TOML file today and stored per project later, and be shipped to
worker processes unchanged. The basic profile is always in force; options relax or
tighten it as PS3.15 Annex E defines; overrides (keep/remove/replace by keyword, tag or
private creator) win over both, because a project that writes one has decided.

TOML form::

    name = "trial-a"
    options = ["clean-descriptors", "retain-longitudinal-modified-dates"]

    [[overrides]]
    keyword = "BodyPartExamined"
    action = "keep"

    [[overrides]]
    private_creator = "ACME 1.0"      # optional: group = 0x0029, element = 0x10
    action = "remove"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.tag import BaseTag, Tag

from vesalius.core.errors import InvalidInput


class Option(StrEnum):
    BASIC = "basic"
    CLEAN_PIXEL_DATA = "clean-pixel-data"
    CLEAN_RECOGNIZABLE_VISUAL_FEATURES = "clean-recognizable-visual-features"
    CLEAN_GRAPHICS = "clean-graphics"
    CLEAN_STRUCTURED_CONTENT = "clean-structured-content"
    CLEAN_DESCRIPTORS = "clean-descriptors"
    RETAIN_LONGITUDINAL_FULL_DATES = "retain-longitudinal-full-dates"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "retain-longitudinal-modified-dates"
    RETAIN_PATIENT_CHARACTERISTICS = "retain-patient-characteristics"
    RETAIN_DEVICE_IDENTITY = "retain-device-identity"
    RETAIN_UIDS = "retain-uids"
    RETAIN_SAFE_PRIVATE = "retain-safe-private"
    RETAIN_INSTITUTION_IDENTITY = "retain-institution-identity"


# PS3.16 CID 7050 "De-identification Method", coding scheme DCM.
OPTION_CODES: dict[Option, tuple[str, str]] = {
    Option.BASIC: ("113100", "Basic Application Confidentiality Profile"),
    Option.CLEAN_PIXEL_DATA: ("113101", "Clean Pixel Data Option"),
    Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES: (
        "113102",
        "Clean Recognizable Visual Features Option",
    ),
    Option.CLEAN_GRAPHICS: ("113103", "Clean Graphics Option"),
    Option.CLEAN_STRUCTURED_CONTENT: ("113104", "Clean Structured Content Option"),
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_LONGITUDINAL_FULL_DATES: (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Option.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Option.RETAIN_INSTITUTION_IDENTITY: ("113112", "Retain Institution Identity Option"),
}

ACTIONS = ("keep", "remove", "replace")
_TAG_TEXT = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,?\s*([0-9A-Fa-f]{4})\s*\)?$")


def parse_option(name: str) -> Option:
    try:
        return Option(name.strip().lower())
    except ValueError:
        valid = ", ".join(o.value for o in Option)
        raise InvalidInput(f"unknown de-identification option {name!r}; one of: {valid}") from None


def parse_tag(text: str | int) -> BaseTag:
    """``(0010,0010)``, ``0010,0010``, ``00100010`` or an int."""
    if isinstance(text, int):
        return Tag(text)
    match = _TAG_TEXT.match(str(text).strip())
    if match is None:
        raise InvalidInput(f"not a tag: {text!r} (write it as (gggg,eeee))")
    return Tag(int(match.group(1), 16), int(match.group(2), 16))


@dataclass(frozen=True)
class Override:
    """One project rule: keep, remove or replace what it selects, whatever the table says.

    It selects a standard attribute (``keyword`` or ``tag``) or private attributes by
    ``private_creator``, optionally narrowed to one ``group`` and one ``element`` (the
    byte within the creator's block, as in ``(0029,xx10)`` -> 0x10).
    """

    action: str
    keyword: str | None = None
    tag: int | None = None
    private_creator: str | None = None
    group: int | None = None
    element: int | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidInput(f"override action must be one of {', '.join(ACTIONS)}")
        selectors = [s for s in (self.keyword, self.tag, self.private_creator) if s is not None]
        if len(selectors) != 1:
            raise InvalidInput("an override names exactly one of keyword, tag, private_creator")
        if self.keyword is not None and tag_for_keyword(self.keyword) is None:
            raise InvalidInput(f"override: {self.keyword!r} is not a DICOM keyword")
        if self.private_creator is None and (self.group is not None or self.element is not None):
            raise InvalidInput("override: group and element go with private_creator")
        if self.group is not None and self.group % 2 == 0:
            raise InvalidInput("override: a private group is odd")
        if self.element is not None and not 0 <= self.element <= 0xFF:
            raise InvalidInput("override: element is the byte within the block (0x00-0xFF)")
        if (self.action == "replace") != (self.value is not None):
            raise InvalidInput("override: 'replace' needs a value, and only it takes one")

    @property
    def standard_tag(self) -> int | None:
        if self.keyword is not None:
            return int(tag_for_keyword(self.keyword))  # type: ignore[arg-type]
        return self.tag

    def matches_private(self, group: int, creator: str, element: int) -> bool:
        return (
            self.private_creator is not None
            and self.private_creator.strip() == creator
            and self.group in (None, group)
            and self.element in (None, element)
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Override:
        allowed = {"action", "keyword", "tag", "private_creator", "group", "element", "value"}
        unknown = set(data) - allowed
        if unknown:
            raise InvalidInput(f"override: unknown field(s) {', '.join(sorted(unknown))}")
        if "action" not in data:
            raise InvalidInput("override: 'action' is required")
        tag = data.get("tag")
        value = data.get("value")
        return cls(
            action=str(data["action"]).lower(),
            keyword=data.get("keyword"),
            tag=int(parse_tag(tag)) if tag is not None else None,
            private_creator=data.get("private_creator"),
            group=_int(data.get("group")),
            element=_int(data.get("element")),
            value=None if value is None else str(value),
        )

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action}
        for name in ("keyword", "private_creator", "group", "element", "value"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.tag is not None:
            out["tag"] = f"({self.tag >> 16:04X},{self.tag & 0xFFFF:04X})"
        return out


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 0)
    except ValueError:
        raise InvalidInput(f"override: {value!r} is not a number (use 0x.. for hex)") from None


@dataclass(frozen=True)
class Profile:
    """Options (the basic profile always among them) and overrides, validated when built."""

    options: frozenset[Option] = frozenset({Option.BASIC})
    overrides: tuple[Override, ...] = ()
    name: str = ""
    _by_tag: dict[int, Override] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        options = frozenset(self.options) | {Option.BASIC}
        object.__setattr__(self, "options", options)
        if {Option.RETAIN_LONGITUDINAL_FULL_DATES, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES} <= (
            options
        ):
            raise InvalidInput(
                "retain-longitudinal-full-dates and retain-longitudinal-modified-dates "
                "exclude each other"
            )
        by_tag: dict[int, Override] = {}
        for override in self.overrides:
            tag = override.standard_tag
            if tag is None:
                continue
            if tag in by_tag:
                raise InvalidInput(f"two overrides for ({tag >> 16:04X},{tag & 0xFFFF:04X})")
            by_tag[tag] = override
        object.__setattr__(self, "_by_tag", by_tag)

    def __hash__(self) -> int:
        return hash((self.options, self.overrides, self.name))

    def has(self, option: Option) -> bool:
        return option in self.options

    def override_for(self, tag: int) -> Override | None:
        return self._by_tag.get(tag)

    def private_override(self, group: int, creator: str, element: int) -> Override | None:
        for override in self.overrides:
            if override.matches_private(group, creator, element):
                return override
        return None

    @property
    def ordered_options(self) -> tuple[Option, ...]:
        """Options in the standard's order (CID 7050), for marks and reports."""
        return tuple(o for o in OPTION_CODES if o in self.options)

    def with_options(self, names: Iterable[str]) -> Profile:
        extra = {parse_option(n) for n in names}
        return Profile(self.options | extra, self.overrides, self.name)

    @classmethod
    def from_options(cls, names: Iterable[str] = ()) -> Profile:
        return cls(frozenset(parse_option(n) for n in names))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Profile:
        unknown = set(data) - {"name", "options", "overrides"}
        if unknown:
            raise InvalidInput(f"profile: unknown key(s) {', '.join(sorted(unknown))}")
        options = data.get("options", [])
        overrides = data.get("overrides", [])
        if not isinstance(options, list) or not isinstance(overrides, list):
            raise InvalidInput("profile: 'options' and 'overrides' are lists")
        return cls(
            frozenset(parse_option(str(o)) for o in options),
            tuple(Override.from_mapping(o) for o in overrides),
            str(data.get("name", "")),
        )

    @classmethod
    def from_toml(cls, text: str) -> Profile:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"profile is not valid TOML: {exc}") from None
        return cls.from_mapping(data)

    @classmethod
    def load(cls, path: Path) -> Profile:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot read profile ({type(exc).__name__})") from None
        return cls.from_toml(text)

    def to_mapping(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "options": [o.value for o in self.ordered_options],
            "overrides": [o.to_mapping() for o in self.overrides],
        }
