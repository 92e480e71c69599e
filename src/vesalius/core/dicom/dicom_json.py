"""DICOM JSON (PS3.18 F.2) of a dataset without its bulk data, ready for the index.

Bulk data (pixel data, large binary values) is replaced by a ``BulkDataURI`` relative
to the instance, so queries and ``/metadata`` never read the stored file. Values that
JSON or PostgreSQL cannot hold (NaN, NUL characters) are made safe here, once.
"""

from __future__ import annotations

import math
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

BULK_THRESHOLD = 1024


def _bulk_uri(element: DataElement) -> str:
    return f"bulkdata/{element.tag:08X}"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def dataset_to_json(ds: Dataset) -> dict[str, Any]:
    """The dataset (not its File Meta) as DICOM JSON with bulk data by reference."""
    data = ds.to_json_dict(
        bulk_data_threshold=BULK_THRESHOLD,
        bulk_data_element_handler=_bulk_uri,
        suppress_invalid_tags=True,
    )
    return _clean(data)
