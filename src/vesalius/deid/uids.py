"""Which UIDs name instances (and are replaced) and which name the standard's own things.

PS3.15 E.3.9 note 4: "one would never remove or replace the SOP Class UID". Values under
the DICOM root (1.2.840.10008.*) name SOP classes, transfer syntaxes, context groups and
the like; coding schemes and implementations are named by their own roots. Everything else
in a UI element, listed in Table E.1-1 or not, is taken to identify an instance and is
replaced by its keyed pseudonym, so references between objects keep resolving.
"""

from __future__ import annotations

DICOM_ROOT = "1.2.840.10008."
STRUCTURAL_KEYWORDS = frozenset(
    {
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "CodingSchemeUID",
        "ContextUID",
        "MappingResourceUID",
        "ContextGroupExtensionCreatorUID",
        "PrivateInformationCreatorUID",
        "TemplateExtensionOrganizationUID",
        "TemplateExtensionCreatorUID",
        "ReferencedTransferSyntaxUIDInFile",
        "EncryptedContentTransferSyntaxUID",
        "MACCalculationTransferSyntaxUID",
    }
)


def is_structural(keyword: str, value: str) -> bool:
    """True for UIDs that name a class, syntax or scheme rather than an instance."""
    return (
        value.startswith(DICOM_ROOT)
        or keyword in STRUCTURAL_KEYWORDS
        or keyword.endswith("ClassUID")
        or keyword.endswith("ClassUIDInFile")
    )
