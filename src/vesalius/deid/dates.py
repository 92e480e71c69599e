"""Dates and ages: shifting DA and DT values by a patient's offset, HIPAA age limits.

Only the date part moves: times (TM, and the time part of DT with its UTC offset) stay as
they are, because a whole-day shift keeps every interval, including those measured in
hours (injection to acquisition for PET SUV). A value that cannot be read as a date is
reported back as ``None`` so that the caller removes it instead of keeping it unshifted.
"""

from __future__ import annotations

import datetime as dt
import re

AGE_LIMIT_YEARS = 90  # HIPAA Safe Harbor: ages over 89 are aggregated into "90 or older"
CAPPED_AGE = "090Y"
_DA = re.compile(r"^(\d{4})(\d{2})?(\d{2})?$")
_AS = re.compile(r"^(\d{3})([DWMY])$")
_DAYS_PER_UNIT = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}


def parse_da(value: str) -> dt.date | None:
    text = value.strip()
    if len(text) == 10 and text[4] == "." and text[7] == ".":  # ACR-NEMA yyyy.mm.dd
        text = text.replace(".", "")
    match = _DA.match(text)
    if match is None:
        return None
    year, month, day = match.groups()
    try:
        return dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None


def shift_da(value: str, days: int) -> str | None:
    """``YYYYMMDD`` moved by ``days``; partial dates keep their precision."""
    text = value.strip()
    date = parse_da(text)
    if date is None:
        return None
    try:
        shifted = date + dt.timedelta(days=days)
    except OverflowError:
        return None
    digits = len(text.replace(".", ""))
    return shifted.strftime("%Y%m%d")[:digits]


def shift_dt(value: str, days: int) -> str | None:
    """DT ``YYYYMMDDHHMMSS.FFFFFF&ZZXX``: the date part moves, the rest is kept."""
    text = value.strip()
    split = 0
    while split < min(len(text), 8) and text[split].isdigit():
        split += 1
    if split not in (4, 6, 8):
        return None
    date = shift_da(text[:split], days)
    return None if date is None else date + text[split:]


def age_in_years(value: str) -> float | None:
    match = _AS.match(value.strip().upper())
    if match is None:
        return None
    number, unit = match.groups()
    return int(number) * _DAYS_PER_UNIT[unit] / 365.25


def cap_age(value: str) -> str | None:
    """An AS value with ages over 89 years reported as ``090Y``; ``None`` if unreadable."""
    years = age_in_years(value)
    if years is None:
        return None
    return CAPPED_AGE if years >= AGE_LIMIT_YEARS else value.strip().upper()


def age_between(birth: str, on: str) -> str | None:
    """The AS value of a patient born on ``birth`` at date ``on`` (both DA), capped."""
    born, then = parse_da(birth), parse_da(on)
    if born is None or then is None or then < born or len(birth.strip()) < 8:
        return None
    years = then.year - born.year - ((then.month, then.day) < (born.month, born.day))
    if years >= AGE_LIMIT_YEARS:
        return CAPPED_AGE
    if years >= 2:
        return f"{years:03d}Y"
    months = (then.year - born.year) * 12 + then.month - born.month - (then.day < born.day)
    if months >= 1:
        return f"{months:03d}M"
    return f"{(then - born).days:03d}D"
