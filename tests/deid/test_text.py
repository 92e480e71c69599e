"""The default free-text cleaner: identifiers out, clinical words and measurements kept."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vesalius.deid.text import DefaultTextCleaner, KnownIdentifiers, date_forms, name_tokens

KNOWN = KnownIdentifiers(
    names=("Müller^Jürgen", "Welby^Marcus^J"),
    ids=("PID-778899", "ACC5550101"),
    birth_dates=("19610412",),
    dates=("20230303",),
    texts=("Bahnhofstrasse 12, Zürich",),
)
clean = DefaultTextCleaner().clean


@pytest.mark.parametrize(
    "text",
    [
        "CT Thorax Müller",
        "MÜLLER, JÜRGEN",
        "mueller juergen",
        "Muller Jurgen",
        "Dr. Welby",
        "id PID-778899 and pid-778899",
        "MRN 778899",
        "acc ACC5550101",
        "born 12.04.1961",
        "born 1961-04-12",
        "born 04/12/1961",
        "born 12 Apr 1961",
        "born April 12, 1961",
        "seen 2023-03-03",
        "seen 03.03.2023",
        "seen March 2023",
        "call +41 44 123 45 67",
        "call (555) 123-4567",
        "call 555-123-4567",
        "mail j.mueller@example.org",
        "record 12345678",
        "uid 1.2.826.0.1.3680043.10.1452.7",
        "lives at Bahnhofstrasse 12, Zürich",
    ],
)
def test_identifiers_are_removed(text: str) -> None:
    cleaned = clean(text, KNOWN)
    for token in (
        "Müller",
        "Jürgen",
        "ueller",
        "uller",
        "Jurgen",
        "Welby",
        "778899",
        "5550101",
        "1961",
        "2023",
        "123",
        "4567",
        "example",
        "1452",
        "Bahnhof",
        "Zürich",
    ):
        assert token.lower() not in cleaned.lower(), (text, cleaned)
    assert cleaned != text


@pytest.mark.parametrize(
    "text",
    [
        "pneumonia in the left lower lobe",
        "slice 0.625 mm, 120 kV, 250 mAs, T2 FLAIR at 3.0 T, 512x512 matrix",
        "lesion 12 x 8 mm, SUVmax 4.2, series 3 of 5, contrast 80 ml",
        "follow-up in 6 months; grade 2 of 4",
        "C3-C4 disc, T11 vertebra, segment 7",
    ],
)
def test_clinical_text_is_kept(text: str) -> None:
    assert clean(text, KNOWN) == text


def test_dates_are_shifted_when_an_offset_is_known_but_birth_dates_removed() -> None:
    known = KnownIdentifiers(birth_dates=("19610412",), dates=("20230303",), date_offset_days=-10)
    assert clean("seen 2023-03-03 and 20230303, born 1961-04-12", known) == (
        "seen 2023-02-21 and 20230221, born [date]"
    )
    assert clean("seen 03/03/2023", known) == "seen [date]"  # ambiguous order: removed


def test_placeholders_collapse_and_names_need_word_boundaries() -> None:
    known = KnownIdentifiers(names=("Lee^Ann",))
    assert clean("Ann Lee: sleep study, annual scan", known) == "[name]: sleep study, annual scan"


def test_name_tokens_and_date_forms() -> None:
    assert {"Müller", "Muller", "Mueller", "Jürgen"} <= set(name_tokens(["Müller^Jürgen^^Dr"]))
    assert "Dr" in name_tokens(["Müller^Jürgen^^Dr"])  # a prefix, but also a possible name
    forms = date_forms("19610412")
    assert {"19610412", "1961-04-12", "12.04.1961", "04/12/1961", "12 Apr 1961"} <= set(forms)
    assert date_forms("1961") == ()


def test_nothing_to_clean() -> None:
    assert clean("", KNOWN) == ""
    assert clean("   ", KNOWN) == "   "
    assert clean("no identifiers here", KnownIdentifiers()) == "no identifiers here"


LETTERS = "abcdefghijklmnopqrstuvwxyzäöüéèçñßøå"
CLINICAL_WORDS = {"seen", "for", "pneumonia", "in", "the", "left", "lower", "lobe"}


@settings(max_examples=200, deadline=None)
@given(
    first=st.text(alphabet=LETTERS, min_size=2, max_size=12),
    last=st.text(alphabet=LETTERS, min_size=2, max_size=12),
)
def test_any_name_is_removed_in_any_case(first: str, last: str) -> None:
    assume({first.casefold(), last.casefold()}.isdisjoint(CLINICAL_WORDS | {"name"}))
    first, last = first.capitalize(), last.capitalize()
    text = f"{last.upper()}, {first} seen for pneumonia in the left lower lobe ({first} {last})"
    cleaned = clean(text, KnownIdentifiers(names=(f"{last}^{first}",)))
    words = set(re.findall(r"\w+", cleaned.casefold()))
    assert first.casefold() not in words and last.casefold() not in words, cleaned
    assert "pneumonia in the left lower lobe" in cleaned
