"""Keyed pseudonyms: UIDs, date offsets, subject IDs; date shifting and ages."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.uid import UID

from vesalius.core.errors import ConfigError
from vesalius.deid import dates
from vesalius.deid.keyed import MAX_OFFSET_DAYS, Pseudonyms

KEY = b"a project key of 32 bytes long!!"


def test_uids_are_uuid_derived_consistent_and_keyed() -> None:
    one, again, other = Pseudonyms(KEY), Pseudonyms(KEY), Pseudonyms(KEY[::-1])
    original = "1.2.826.0.1.3680043.10.1452.99"
    mapped = one.uid(original)
    assert mapped == again.uid(original) == one.uid(original + "\x00") == one.uid(f" {original}")
    assert mapped != other.uid(original) and mapped != one.uid(original + "1")
    assert mapped.startswith("2.25.") and len(mapped) <= 64 and UID(mapped).is_valid
    as_uuid = uuid.UUID(int=int(mapped[5:]))
    assert (as_uuid.version, as_uuid.variant) == (8, uuid.RFC_4122)
    assert one.uid("") == ""


def test_uids_never_collide_over_many_inputs() -> None:
    pseudonyms = Pseudonyms(KEY)
    mapped = {pseudonyms.uid(f"1.2.3.{i}") for i in range(20000)}
    assert len(mapped) == 20000


def test_date_offsets_are_per_patient_non_zero_and_bounded() -> None:
    pseudonyms = Pseudonyms(KEY)
    offsets = [pseudonyms.date_offset_days(f"PID-{i}") for i in range(5000)]
    assert all(1 <= abs(o) <= MAX_OFFSET_DAYS for o in offsets)
    assert min(offsets) < -300 and max(offsets) > 300  # both directions, the whole range
    assert pseudonyms.date_offset_days("PID-1") == Pseudonyms(KEY).date_offset_days("PID-1")


def test_subject_ids_are_distinct_per_patient_and_key() -> None:
    pseudonyms = Pseudonyms(KEY)
    ids = {pseudonyms.subject_id(f"PID-{i}") for i in range(20000)}
    assert len(ids) == 20000
    assert pseudonyms.subject_id("PID-1") != Pseudonyms(KEY[::-1]).subject_id("PID-1")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ConfigError):
        Pseudonyms(b"short")


def test_date_shifting_keeps_precision_and_time() -> None:
    assert dates.shift_da("20230303", 10) == "20230313"
    assert dates.shift_da("20230303", -365) == "20220303"
    assert dates.shift_da("202303", 40) == "202304"
    assert dates.shift_da("2023.03.03", 1) == "20230304"
    assert dates.shift_da("garbage", 1) is None
    assert dates.shift_dt("20230303091502.123456+0100", 30) == "20230402091502.123456+0100"
    assert dates.shift_dt("2023", 400) == "2024"
    assert dates.shift_dt("x", 1) is None


@pytest.mark.parametrize(
    ("age", "capped"),
    [
        ("089Y", "089Y"),
        ("090Y", "090Y"),
        ("095Y", "090Y"),
        ("120Y", "090Y"),
        ("1079M", None),
        ("999M", "999M"),
        ("999W", "999W"),
        ("1100W", None),
        ("045D", "045D"),
        ("95Y", None),
    ],
)
def test_ages_over_89_become_90(age: str, capped: str | None) -> None:
    assert dates.cap_age(age) == capped


def test_ages_derived_from_birth_dates() -> None:
    assert dates.age_between("19280101", "20230508") == "090Y"
    assert dates.age_between("19610412", "20230303") == "061Y"
    assert dates.age_between("20230101", "20230303") == "002M"
    assert dates.age_between("20230301", "20230303") == "002D"
    assert dates.age_between("2023", "20230303") is None
    assert dates.age_between("20240101", "20230303") is None


@given(
    first=st.dates(dt.date(1950, 1, 1), dt.date(2040, 12, 31)),
    second=st.dates(dt.date(1950, 1, 1), dt.date(2040, 12, 31)),
    patient=st.text(min_size=1, max_size=20),
)
def test_shifting_keeps_every_interval(first: dt.date, second: dt.date, patient: str) -> None:
    offset = Pseudonyms(KEY).date_offset_days(patient)
    a = dates.shift_da(first.strftime("%Y%m%d"), offset)
    b = dates.shift_da(second.strftime("%Y%m%d"), offset)
    assert a is not None and b is not None

    def day(text: str) -> dt.date:
        return dt.datetime.strptime(text, "%Y%m%d").date()

    assert day(b) - day(a) == second - first
    assert (day(a) - first).days == offset != 0
