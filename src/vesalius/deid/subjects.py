"""Research subject IDs: a per-project template filled with the project key and a sequence.

The default ``{project}-{seq:04d}`` gives ``trial-0001``, ``trial-0002`` … in order of
first sight. A template may use only ``{project}`` and ``{seq}`` (with any format spec,
e.g. ``SUBJ{seq:05d}``) and must use ``{seq}``: the sequence is what makes IDs unique,
and nothing else of the patient may shape an ID (it is written into every object as
Patient ID and Patient's Name). IDs are short enough for a LO value (64 characters).

A site gateway puts its site code in front (``with_site_prefix``: ``A01-{project}-{seq:04d}``)
because every site counts its own sequence: without the prefix two sites would both
assign ``trial-0001`` to different patients in the same central project.
"""

from __future__ import annotations

import re
import string

from vesalius.core.errors import InvalidInput

DEFAULT_TEMPLATE = "{project}-{seq:04d}"
MAX_LENGTH = 64
_FIELDS = frozenset({"project", "seq"})


def validate_template(template: str) -> str:
    """``template`` if it is usable, else ``InvalidInput`` saying why."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise InvalidInput(f"subject ID template: {exc}") from None
    if not fields <= _FIELDS:
        raise InvalidInput(
            f"subject ID template: only {{project}} and {{seq}} may be used, not "
            f"{', '.join(sorted(fields - _FIELDS))}"
        )
    if "seq" not in fields:
        raise InvalidInput("subject ID template must contain {seq} (e.g. '{project}-{seq:04d}')")
    format_subject_id(template, project="p", seq=1)
    return template


def format_subject_id(template: str, *, project: str, seq: int) -> str:
    """The research ID number ``seq`` of ``project``; checked to be a valid LO value."""
    try:
        value = template.format(project=project, seq=seq)
    except (ValueError, KeyError, IndexError) as exc:
        raise InvalidInput(f"subject ID template cannot be filled: {exc}") from None
    if not value or len(value) > MAX_LENGTH:
        raise InvalidInput(f"subject ID template gives an ID of {len(value)} characters (1-64)")
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidInput("subject ID template gives an ID with a backslash or control character")
    if value != value.strip():
        raise InvalidInput("subject ID template gives an ID with leading or trailing spaces")
    return value


SITE_PATTERN = re.compile(r"^[A-Za-z0-9]{1,16}$")


def validate_site(site: str) -> str:
    """A site code: 1-16 letters or digits (it becomes part of every research ID)."""
    if not SITE_PATTERN.match(site):
        raise InvalidInput("a site code is 1-16 letters or digits")
    return site


def with_site_prefix(template: str, site: str) -> str:
    """``template`` with ``SITE-`` in front, so that the research IDs two sites assign
    from the same template (each from its own sequence) can never be the same."""
    validate_site(site)
    prefix = f"{site}-"
    if template.startswith(prefix):
        return template
    return validate_template(prefix + template)
