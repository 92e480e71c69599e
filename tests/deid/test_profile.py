"""Profiles: options and overrides from TOML, validated when built."""

from __future__ import annotations

from pathlib import Path

import pytest

from vesalius.core.errors import InvalidInput
from vesalius.deid.profile import Option, Override, Profile

TOML = """
name = "trial-a"
options = ["clean-descriptors", "retain-longitudinal-modified-dates"]

[[overrides]]
keyword = "BodyPartExamined"
action = "keep"

[[overrides]]
tag = "(0008,0080)"
action = "replace"
value = "Site 7"

[[overrides]]
private_creator = "ACME 1.0"
group = 0x0029
element = 0x10
action = "remove"
"""


def test_profile_from_toml_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text(TOML)
    profile = Profile.load(path)
    assert profile.name == "trial-a"
    assert profile.ordered_options == (
        Option.BASIC,
        Option.CLEAN_DESCRIPTORS,
        Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,
    )
    assert profile.override_for(0x00180015).action == "keep"
    assert profile.override_for(0x00080080).value == "Site 7"
    assert profile.private_override(0x0029, "ACME 1.0", 0x10).action == "remove"
    assert profile.private_override(0x0029, "ACME 1.0", 0x11) is None
    assert Profile.from_mapping(profile.to_mapping()) == profile
    assert hash(Profile.from_mapping(profile.to_mapping())) == hash(profile)
    assert profile.with_options(["retain-uids"]).has(Option.RETAIN_UIDS)


def test_basic_is_always_in_force() -> None:
    assert Profile.from_options([]).options == {Option.BASIC}
    assert Option.BASIC in Profile.from_options(["retain-uids"]).options


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"options": ["retain-everything"]}, "unknown de-identification option"),
        (
            {"options": ["retain-longitudinal-full-dates", "retain-longitudinal-modified-dates"]},
            "exclude each other",
        ),
        ({"overrides": [{"keyword": "NotAKeyword", "action": "keep"}]}, "not a DICOM keyword"),
        ({"overrides": [{"keyword": "PatientName", "action": "blank"}]}, "action must be"),
        ({"overrides": [{"keyword": "PatientName", "action": "replace"}]}, "needs a value"),
        ({"overrides": [{"action": "keep"}]}, "exactly one of"),
        (
            {"overrides": [{"tag": "(0010,0010)", "keyword": "PatientName", "action": "keep"}]},
            "exactly one of",
        ),
        ({"overrides": [{"tag": "10,10", "action": "keep"}]}, "not a tag"),
        ({"overrides": [{"private_creator": "X", "group": 0x0010, "action": "keep"}]}, "odd"),
        (
            {"overrides": [{"keyword": "PatientName", "group": 9, "action": "keep"}]},
            "go with private_creator",
        ),
        (
            {"overrides": [{"keyword": "PatientName", "action": "keep", "colour": 1}]},
            "unknown field",
        ),
        (
            {
                "overrides": [
                    {"keyword": "PatientName", "action": "keep"},
                    {"tag": "00100010", "action": "remove"},
                ]
            },
            "two overrides",
        ),
        ({"option": ["basic"]}, "unknown key"),
    ],
)
def test_invalid_profiles_say_what_is_wrong(data: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Profile.from_mapping(data)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not valid TOML"):
        Profile.from_toml("options = [")
    with pytest.raises(InvalidInput, match="cannot read profile"):
        Profile.load(tmp_path / "missing.toml")


def test_override_selectors() -> None:
    assert Override("keep", tag=0x00100010).standard_tag == 0x00100010
    assert Override("keep", keyword="PatientName").standard_tag == 0x00100010
    assert Override("keep", private_creator="ACME 1.0").matches_private(0x29, "ACME 1.0", 0x42)
    assert not Override("keep", private_creator="ACME 1.0").matches_private(0x29, "ACME", 1)
