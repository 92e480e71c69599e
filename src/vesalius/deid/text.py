"""Free text: what we know identifies this patient, and the cleaner that takes it out.

Descriptions, comments and report text (the C action under clean-descriptors and
clean-structured-content) keep their clinical words but lose the patient's own
identifiers (names, IDs, birth date, addresses, taken from the object's header and, later,
from the vault) and whatever looks like an identifier (dates, phone numbers, e-mail
addresses, long digit IDs, UIDs). The cleaner is a protocol so that a better one (an NER
model, a site's dictionary) plugs in without touching the engine.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vesalius.deid.dates import parse_da, shift_da

NAME, ID, DATE, PHONE, EMAIL, UID, REMOVED = (
    "[name]",
    "[id]",
    "[date]",
    "[phone]",
    "[email]",
    "[uid]",
    "[removed]",
)
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ISO_DATE = re.compile(
    r"(?<![\w.])((?:19|20)\d\d)([-/.]?)(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?![\w])"
)
_OTHER_DATES = (
    re.compile(
        r"(?<![\w.])(?:0?[1-9]|[12]\d|3[01])([-/.])(?:0?[1-9]|[12]\d|3[01])\1(?:\d{4}|\d{2})(?!\w)"
    ),
    re.compile(
        rf"(?<!\w)\d{{1,2}}(?:st|nd|rd|th)?[ -]?(?:{_MONTHS})\.?,?[ -]?\d{{2,4}}(?!\w)", re.I
    ),
    re.compile(rf"(?<!\w)(?:{_MONTHS})\.?[ -]\d{{1,2}}(?:st|nd|rd|th)?,?[ -]\d{{4}}(?!\w)", re.I),
    re.compile(rf"(?<!\w)(?:{_MONTHS})\.?[ -]\d{{4}}(?!\w)", re.I),
)
_UID = re.compile(r"(?<![\w.])\d+(?:\.\d+){4,}(?![\w.])")
_PHONE = re.compile(
    r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]\d{1,5}){1,5}(?![\w.])"
    r"|(?<![\w.])(?:\+\d{1,3}[ .-]?)?\(\d{1,5}\)[ .-]?\d{2,}(?![\w.])"
)
_LONG_ID = re.compile(r"(?<![\w.])[A-Za-z]{0,6}[-#:]?\d{6,}(?![\w.])")
_COLLAPSE = re.compile(r"(\[(?:name|id|date|removed)\])(?:[\s,;^/-]*\1)+")


@dataclass(frozen=True)
class KnownIdentifiers:
    """What is known to identify one patient; every field a tuple of header-style values.

    ``birth_dates`` and ``dates`` are DA values (``YYYYMMDD``); birth dates are always
    removed from text, other dates are shifted by ``date_offset_days`` when it is set
    (retain-longitudinal-modified-dates) and removed otherwise.
    """

    names: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    birth_dates: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    date_offset_days: int | None = None

    def merged(self, other: KnownIdentifiers) -> KnownIdentifiers:
        def union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys((*a, *b)))

        return KnownIdentifiers(
            names=union(self.names, other.names),
            ids=union(self.ids, other.ids),
            birth_dates=union(self.birth_dates, other.birth_dates),
            dates=union(self.dates, other.dates),
            texts=union(self.texts, other.texts),
            date_offset_days=(
                self.date_offset_days
                if self.date_offset_days is not None
                else other.date_offset_days
            ),
        )


@runtime_checkable
class TextCleaner(Protocol):
    """Returns ``text`` without identifying content, keeping what is clinical."""

    def clean(self, text: str, known: KnownIdentifiers) -> str: ...


def _variants(token: str) -> set[str]:
    """A name token as written, without accents, in German transliteration, ß as ss."""
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c)
    )
    german = token
    for src, dst in (
        ("ä", "ae"),
        ("ö", "oe"),
        ("ü", "ue"),
        ("Ä", "Ae"),
        ("Ö", "Oe"),
        ("Ü", "Ue"),
        ("ß", "ss"),
    ):
        german = german.replace(src, dst)
    variants = {token, folded, german}
    return variants | {v.replace("ß", "ss") for v in variants}  # "Groß" upper-cased is "GROSS"


def name_tokens(names: Iterable[str]) -> tuple[str, ...]:
    tokens: set[str] = set()
    for name in names:
        for token in re.split(r"[\s^=,.;:/()\"'-]+", name):
            if len(token) >= 2 and not token.isdigit():  # titles too: "Md" is also a name
                tokens |= _variants(token)
    return tuple(sorted(tokens, key=lambda t: (-len(t), t)))


def date_forms(da: str) -> tuple[str, ...]:
    """The ways a DA value is commonly written in text."""
    date = parse_da(da)
    if date is None or len(da.strip()) != 8:
        return ()
    d, m, y = date.day, date.month, date.year
    mon, month = date.strftime("%b"), date.strftime("%B")
    forms = {
        f"{y}{m:02d}{d:02d}",
        *(f"{y}{s}{m:02d}{s}{d:02d}" for s in "-/."),
        *(f"{d:02d}{s}{m:02d}{s}{y}" for s in "-/."),
        *(f"{m:02d}{s}{d:02d}{s}{y}" for s in "-/."),
        *(f"{d}{s}{m}{s}{y}" for s in "-/."),
        *(f"{m}{s}{d}{s}{y}" for s in "-/."),
        *(f"{d:02d}{s}{m:02d}{s}{y % 100:02d}" for s in "-/."),
        *(f"{m:02d}{s}{d:02d}{s}{y % 100:02d}" for s in "-/."),
        f"{d} {mon} {y}",
        f"{d} {month} {y}",
        f"{d}-{mon}-{y}",
        f"{d:02d}-{mon}-{y}",
        f"{mon} {d}, {y}",
        f"{month} {d}, {y}",
        f"{mon} {d} {y}",
        f"{month} {d} {y}",
    }
    return tuple(sorted(forms, key=lambda f: (-len(f), f)))


@functools.lru_cache(maxsize=256)
def _alternation(tokens: tuple[str, ...], word: bool) -> re.Pattern[str] | None:
    if not tokens:
        return None
    body = "|".join(re.escape(t) for t in tokens)
    if word:
        return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])", re.IGNORECASE)


def _id_tokens(ids: Iterable[str]) -> tuple[str, ...]:
    tokens: set[str] = set()
    for value in ids:
        value = value.strip()
        if len(value) >= 3:
            tokens.add(value)
        tokens.update(run for run in re.findall(r"\d{5,}", value))
    return tuple(sorted(tokens, key=lambda t: (-len(t), t)))


def _text_tokens(texts: Iterable[str]) -> tuple[str, ...]:
    tokens: set[str] = set()
    for text in texts:
        text = " ".join(text.split())
        if len(text) >= 3:
            tokens.add(text)
        tokens.update(p.strip() for p in re.split(r"[,;^\n\\]+", text) if len(p.strip()) >= 4)
    return tuple(sorted(tokens, key=lambda t: (-len(t), t)))


class DefaultTextCleaner:
    """Removes the patient's known identifiers and identifier-like patterns.

    Replacements are short bracketed placeholders (``[name]``, ``[id]``, ``[date]`` ...)
    so that a reader sees that something was removed; the clinical words around them
    stay. ISO dates are shifted instead when a date offset is known.
    """

    def clean(self, text: str, known: KnownIdentifiers) -> str:
        if not text or not text.strip():
            return text
        out = _EMAIL.sub(EMAIL, text)
        literal = _alternation(_text_tokens(known.texts), False)
        if literal is not None:
            out = literal.sub(REMOVED, out)
        out = _UID.sub(UID, out)
        out = self._known_dates(out, known)
        shifted: list[str] = []
        out = self._dates(out, known.date_offset_days, shifted)
        names = _alternation(name_tokens(known.names), True)
        if names is not None:
            out = names.sub(NAME, out)
        ids = _alternation(_id_tokens(known.ids), False)
        if ids is not None:
            out = ids.sub(ID, out)
        out = _PHONE.sub(_phone, out)
        out = _LONG_ID.sub(ID, out)
        out = _COLLAPSE.sub(r"\1", out)
        for n, value in enumerate(shifted):  # shifted dates were held back from the patterns
            out = out.replace(_hold(n), value)
        return out

    def _known_dates(self, text: str, known: KnownIdentifiers) -> str:
        values = list(known.birth_dates)
        if known.date_offset_days is None:
            values += known.dates
        forms = tuple(sorted({f for v in values for f in date_forms(v)}, key=lambda f: -len(f)))
        pattern = _alternation(forms, False)
        return text if pattern is None else pattern.sub(DATE, text)

    def _dates(self, text: str, offset: int | None, shifted: list[str]) -> str:
        def iso(match: re.Match[str]) -> str:
            if offset is None:
                return DATE
            year, sep, month, day = match.groups()
            moved = shift_da(f"{year}{month}{day}", offset)
            if moved is None:
                return DATE
            shifted.append(sep.join((moved[:4], moved[4:6], moved[6:8])))
            return _hold(len(shifted) - 1)

        out = _ISO_DATE.sub(iso, text)
        for pattern in _OTHER_DATES:
            out = pattern.sub(DATE, out)
        return out


def _hold(n: int) -> str:
    """A stand-in that no pattern matches, for text already dealt with."""
    return f"\x00{chr(0xE000 + n)}\x00"


def _phone(match: re.Match[str]) -> str:
    value = match.group(0)
    digits = sum(c.isdigit() for c in value)
    separators = sum(c in " .-()" for c in value)
    if digits >= 7 and (value[0] in "+(" or separators >= 2):
        return PHONE
    return value


@dataclass(frozen=True)
class Span:
    """Where an identifier-like piece of text is: ``kind`` is one of the placeholders'
    names (name, id, date, phone, email, uid, removed); the text itself is not kept."""

    kind: str
    start: int
    end: int


def identifier_spans(text: str, known: KnownIdentifiers, *, dates: bool = True) -> list[Span]:
    """What :class:`DefaultTextCleaner` would take out of ``text``, as spans (for
    ``deid verify``): the patient's known identifiers and the identifier patterns.

    ``dates=False`` leaves date patterns out (text whose dates were shifted or kept on
    purpose); known birth dates are always reported. Overlapping spans are all listed.
    """
    spans: list[Span] = []

    def add(kind: str, pattern: re.Pattern[str] | None, judge: bool = False) -> None:
        if pattern is None:
            return
        for match in pattern.finditer(text):
            if judge and _phone(match) == match.group(0):
                continue
            spans.append(Span(kind, match.start(), match.end()))

    add("email", _EMAIL)
    add("removed", _alternation(_text_tokens(known.texts), False))
    add("uid", _UID)
    values = list(known.birth_dates) + (list(known.dates) if dates else [])
    forms = tuple(sorted({f for v in values for f in date_forms(v)}, key=lambda f: -len(f)))
    add("date", _alternation(forms, False))
    held = [(m.start(), m.end()) for m in _ISO_DATE.finditer(text)]
    if dates:
        add("date", _ISO_DATE)
        for pattern in _OTHER_DATES:
            add("date", pattern)
    add("name", _alternation(name_tokens(known.names), True))
    add("id", _alternation(_id_tokens(known.ids), False))
    patterned = len(spans)
    add("phone", _PHONE, judge=True)
    add("id", _LONG_ID)
    if not dates:  # the cleaner holds shifted ISO dates back from these two patterns
        spans[patterned:] = [
            s for s in spans[patterned:] if not any(a < s.end and s.start < b for a, b in held)
        ]
    return sorted(spans, key=lambda s: (s.start, s.end, s.kind))
