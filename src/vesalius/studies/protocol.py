"""The protocol file of a project (YAML): sites, devices, visits and expected series.

Parsed into pydantic models that validate when built; every error names the place in
the file (``line 12: visits[0].series[1].require.SliceThickness: ...``). A sketch::

    name: TRIAL-MR 1.0
    sites: [{key: A, name: Hospital A}]
    devices:
      - {key: A-mr1, site: A, manufacturer: SIEMENS, model: Prisma, qualified: true}
    series:                                  # definitions visits refer to by name
      - name: T1w
        match: {Modality: MR, SeriesDescription: "*mprage*"}
        require: {SliceThickness: {max: 1.2}, slices: {min: 160}}
        overrides:
          - when: {manufacturer: "GE*"}
            match: {SeriesDescription: "*bravo*"}
    visits:
      - {name: baseline, offset_days: 0, window: {before: 0, after: 14}, series: [T1w]}

Patterns are globs (case-insensitive) unless given as ``{regex: ...}``; constraints are
a value (equal), a list (one of), ``{min, max}``, ``{equals, tolerance}``, ``{one_of}``,
``{glob}``, ``{regex}`` or ``{present}``. ``slices`` (images in the series) and
``contrast`` (a contrast agent is named) are computed, everything else is a DICOM keyword.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from pydicom.datadict import tag_for_keyword

from vesalius.core.errors import InvalidInput

# computed values a constraint may name besides DICOM keywords
SLICES = "slices"
CONTRAST = "contrast"
COMPUTED = frozenset({SLICES, CONTRAST})


def _check_keyword(name: str, *, computed: bool) -> str:
    if computed and name in COMPUTED:
        return name
    if tag_for_keyword(name) is None:
        extra = f" or one of {sorted(COMPUTED)}" if computed else ""
        raise ValueError(f"{name!r} is not a DICOM keyword{extra}")
    return name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pattern(_Model):
    """A text pattern: a glob (``*``, ``?``, case-insensitive), a regex, or one of these."""

    glob: str | None = None
    regex: str | None = None
    any_of: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return {"glob": str(value)}
        if isinstance(value, list):
            return {"any_of": [str(v) for v in value]}
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Pattern:
        given = [k for k in ("glob", "regex", "any_of") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of glob, regex, any_of")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return self


class Constraint(_Model):
    """What a value must be; the shorthand forms become one of these fields."""

    equals: float | bool | str | list[float] | None = None
    tolerance: float = Field(0.0, ge=0)
    min: float | None = None
    max: float | None = None
    one_of: list[float | str] | None = None
    glob: str | None = None
    regex: str | None = None
    present: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, bool | int | float | str):
            return {"equals": value}
        if isinstance(value, list):
            return {"one_of": value}
        return value

    @model_validator(mode="after")
    def _something(self) -> Constraint:
        kinds = ("equals", "min", "max", "one_of", "glob", "regex", "present")
        if all(getattr(self, k) is None for k in kinds):
            raise ValueError(f"a constraint needs one of {', '.join(kinds)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return self

    def describe(self) -> dict[str, Any]:
        """The expected value as given (for results): only the fields that were set."""
        return self.model_dump(exclude_none=True, exclude_defaults=True) or {"equals": None}


# dictionary keys checked one by one, so that an error points at the key's own line
Keyword = Annotated[str, AfterValidator(lambda name: _check_keyword(name, computed=False))]
Measure = Annotated[str, AfterValidator(lambda name: _check_keyword(name, computed=True))]


class When(_Model):
    """Where an override applies: patterns on the device that made the series."""

    manufacturer: Pattern | None = None
    model: Pattern | None = None
    software_version: Pattern | None = None
    device: str | None = None  # a device key of the inventory

    @model_validator(mode="after")
    def _something(self) -> When:
        if not any((self.manufacturer, self.model, self.software_version, self.device is not None)):
            raise ValueError("give manufacturer, model, software_version or device")
        return self


class Override(_Model):
    when: When
    match: dict[Keyword, Pattern] = {}
    require: dict[Measure, Constraint | None] = {}  # null removes a constraint


# automated QC per check name: ``false`` turns a check off, a mapping sets thresholds
# (``{enabled: false}`` too); checks are plugins, so names are not validated here
QCSettings = dict[str, bool | dict[str, Any]]


class SeriesSpec(_Model):
    """An expected series: how to recognise it and what its header must say."""

    name: str = Field(min_length=1)
    required: bool = True
    match: dict[Keyword, Pattern] = Field(min_length=1)
    require: dict[Measure, Constraint] = {}
    overrides: list[Override] = []
    qc: QCSettings = {}  # over the project's ``qc:`` for series matched to this one


def _series_kind(value: Any) -> str:
    return "ref" if isinstance(value, str) else "spec"


SeriesItem = Annotated[
    Annotated[str, Tag("ref")] | Annotated[SeriesSpec, Tag("spec")],
    Discriminator(_series_kind),
]


class Window(_Model):
    before: int = Field(0, ge=0)
    after: int = Field(0, ge=0)


class Visit(_Model):
    name: str = Field(min_length=1)
    offset_days: int = 0
    window: Window = Window()
    qualification: bool = False  # a device's qualification scan (a phantom, say)
    match: dict[Keyword, Pattern] = {}  # study-level rules; without, visits go by date
    series: list[SeriesItem] = []

    @model_validator(mode="after")
    def _qualification_is_matched(self) -> Visit:
        if self.qualification and not self.match:
            raise ValueError("a qualification visit needs match rules (StudyDescription, say)")
        return self


class Contact(_Model):
    name: str
    email: str | None = None
    phone: str | None = None
    role: str | None = None


class Site(_Model):
    key: str = Field(min_length=1, max_length=64)
    name: str = ""
    contacts: list[Contact] = []


class Device(_Model):
    """A scanner of the inventory; series are matched to it by their header."""

    key: str = Field(min_length=1, max_length=64)
    site: str | None = None
    manufacturer: Pattern
    model: Pattern
    serial_number: str | None = None
    station_name: str | None = None
    software_versions: list[str] = []
    field_strength: float | None = None
    coils: list[str] = []
    contacts: list[Contact] = []
    qualified: bool = False


class Notifications(_Model):
    """Who hears of due and overdue visits and of deviations (``vesalius notify``)."""

    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = []
    webhooks: list[Annotated[str, Field(pattern=r"^https?://\S+$")]] = []
    reminders: bool = True  # visits due or overdue
    deviations: bool = True  # adherence findings of a stable study


class Protocol(_Model):
    name: str = ""
    description: str = ""
    sites: list[Site] = []
    devices: list[Device] = []
    series: list[SeriesSpec] = []
    visits: list[Visit] = Field(min_length=1)
    ignore: list[dict[Keyword, Pattern]] = []  # series neither expected nor unexpected
    qc: QCSettings = {}  # thresholds of the automated QC checks (defaults when absent)
    # a visit not received this many days after its window closed is missed, not overdue
    missed_after_days: int = Field(30, ge=0)
    notifications: Notifications = Notifications()

    def visit(self, name: str) -> Visit | None:
        return next((v for v in self.visits if v.name == name), None)

    def device(self, key: str | None) -> Device | None:
        return next((d for d in self.devices if d.key == key), None)

    def expected(self, visit: Visit) -> list[SeriesSpec]:
        """The visit's series with references resolved (checked when loaded)."""
        library = {s.name: s for s in self.series}
        return [library[s] if isinstance(s, str) else s for s in visit.series]


Loc = tuple[str | int, ...]


def _semantic_errors(protocol: Protocol) -> list[tuple[Loc, str]]:
    """What the models alone cannot see: references and duplicate keys."""
    errors: list[tuple[Loc, str]] = []

    def unique(items: list[Any], attr: str, where: str) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            value = getattr(item, attr)
            if value in seen:
                errors.append(((where, i, attr), f"duplicate {attr} {value!r}"))
            seen.add(value)

    unique(protocol.sites, "key", "sites")
    unique(protocol.devices, "key", "devices")
    unique(protocol.series, "name", "series")
    unique(protocol.visits, "name", "visits")
    sites = {s.key for s in protocol.sites}
    devices = {d.key for d in protocol.devices}
    library = {s.name for s in protocol.series}
    for i, device in enumerate(protocol.devices):
        if device.site is not None and device.site not in sites:
            errors.append((("devices", i, "site"), f"no site {device.site!r} in sites"))
    specs: list[tuple[Loc, SeriesSpec]] = [
        (("series", i), s) for i, s in enumerate(protocol.series)
    ]
    for v, visit in enumerate(protocol.visits):
        names: set[str] = set()
        for s, item in enumerate(visit.series):
            loc: Loc = ("visits", v, "series", s)
            name = item if isinstance(item, str) else item.name
            if isinstance(item, str) and item not in library:
                errors.append((loc, f"no series {item!r} in the series definitions"))
            if name in names:
                errors.append((loc, f"series {name!r} appears twice in visit {visit.name!r}"))
            names.add(name)
            if not isinstance(item, str):
                specs.append((loc, item))
    for loc, spec in specs:
        for o, override in enumerate(spec.overrides):
            if override.when.device is not None and override.when.device not in devices:
                errors.append(
                    (
                        (*loc, "overrides", o, "when", "device"),
                        f"no device {override.when.device!r}",
                    )
                )
    return errors


def _line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the deepest node of ``loc`` found in the YAML tree."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(
                (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
                None,
            )
            if found is None:
                continue  # a union tag or a key that is missing: stay here
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                continue
            node = node.value[part]
        else:
            continue
        line = node.start_mark.line + 1
    return line


def _where(loc: Loc) -> str:
    text = ""
    for part in loc:
        if part in ("ref", "spec", "[key]"):  # union tags, dictionary keys
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_protocol(text: str, *, source: str = "protocol") -> Protocol:
    """Parse and validate a protocol file; ``InvalidInput`` lists every error with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        context = ""
        if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
            context = f" ({exc.context} on line {exc.context_mark.line + 1})"
        raise InvalidInput(f"{source}{line}: not valid YAML: {exc.problem}{context}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: a protocol file is a mapping (name:, devices:, visits: …)")
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), _message(e)) for e in exc.errors()]
    else:
        problems = _semantic_errors(protocol)
    if problems:
        lines = []
        for loc, message in problems:
            line = _line_of(root, loc)
            at = f"line {line}: " if line is not None else ""
            lines.append(f"{source} {at}{_where(loc)}: {message}")
        raise InvalidInput("\n".join(lines))
    return protocol


def _message(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
