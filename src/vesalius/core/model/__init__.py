"""The archive's tables. Service areas define their own tables on the same ``Base``."""

from vesalius.core.model.accounts import ROLES, Group, GroupMember, Membership, Token, User
from vesalius.core.model.archive import (
    VISIBILITIES,
    Instance,
    InstanceVersion,
    Modality,
    Project,
    Series,
    Site,
    Study,
    Subject,
)
from vesalius.core.model.base import Base, utcnow

__all__ = [
    "ROLES",
    "VISIBILITIES",
    "Base",
    "Group",
    "GroupMember",
    "Instance",
    "InstanceVersion",
    "Membership",
    "Modality",
    "Project",
    "Series",
    "Site",
    "Study",
    "Subject",
    "Token",
    "User",
    "utcnow",
]
