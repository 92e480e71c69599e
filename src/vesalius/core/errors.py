"""The whole exception tree of vesalius, drawn once.

Lower-layer errors (SQLAlchemy, botocore, pydicom, OS) are mapped at the boundary with
``raise VesaliusError(...) from exc`` so that interfaces only ever translate these
classes into exit codes, problem+json responses or DIMSE statuses. Messages must never
carry PHI: name the attribute or the object's UID, never a patient's values.
"""

from __future__ import annotations


class VesaliusError(Exception):
    """Base of every error vesalius raises on purpose."""

    status = 500
    title = "Internal error"


class ConfigError(VesaliusError):
    """Settings that cannot work (bad URL, unreadable home, missing secret)."""

    title = "Configuration error"


class StorageError(VesaliusError):
    """The storage area failed to write or read an object."""

    title = "Storage error"


class BlobNotFound(StorageError):
    """No object with that digest is in the storage area."""

    status = 404
    title = "Not found"


class IntegrityError(StorageError):
    """Bytes do not match the digest they are stored under."""

    title = "Integrity error"


class NotFound(VesaliusError):
    """The resource does not exist or the caller may not know that it exists."""

    status = 404
    title = "Not found"


class Conflict(VesaliusError):
    """The request conflicts with what is stored (a duplicate key, for example)."""

    status = 409
    title = "Conflict"


class InvalidInput(VesaliusError):
    """The caller sent something that cannot be used; the message says what."""

    status = 400
    title = "Bad request"


class Unauthenticated(VesaliusError):
    """No valid credentials were presented."""

    status = 401
    title = "Unauthorized"


class PermissionDenied(VesaliusError):
    """The caller is known but lacks the role for this action."""

    status = 403
    title = "Forbidden"


class DeliveryError(VesaliusError):
    """A delivery to another archive did not happen (unreachable, TLS, refused); the
    message is a reason fit for a status listing (no header values)."""

    status = 502
    title = "Delivery failed"


class RejectedObject(VesaliusError):
    """An incoming object that cannot be archived; it is quarantined with this reason."""

    status = 400
    title = "Rejected object"


class OptionUnavailable(ConfigError):
    """A requested option needs a tool this build or configuration does not have.

    Raised instead of pretending: de-identification never marks data as cleaned in a way
    it could not perform (defacing without a defacing tool, for example).
    """

    title = "Option not available"
