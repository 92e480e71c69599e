"""clean-recognizable-visual-features: gather 3D head series, deface them, write them back.

Defacing needs a whole volume, while the engine sees one object at a time. So, before
the per-object run, :func:`deface_pass` reads every input's header and gathers the
objects the option covers (:func:`covered`: MR or CT images of a head, by Body Part
Examined or the descriptions, or every MR/CT image when ``all_volumes`` is set) into
stacks (series, orientation, matrix, echo, temporal position). A stack that is a volume
(at least ``min_slices`` slices, parallel, evenly spaced along the normal, no tilt) is
built (sorted along the normal, real-world values), defaced
(:mod:`vesalius.deid.pixels.deface`), each slice's face voxels set to the volume's
minimum (air or background) in its stored values, re-encoded without loss in its own
transfer syntax family (:mod:`vesalius.deid.pixels.codec`), and then de-identified by
the engine as usual, which marks it (113102) because :class:`HeadGuard` says it was
defaced. Covered objects that cannot be defaced (a 2D localizer, too few slices,
multi-frame objects, a failed brain mask) are withheld with the reason, never passed on;
everything else goes through the per-object run, where ``HeadGuard`` again refuses any
covered object that did not come through here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from vesalius.core.dicom.parse import read_dataset
from vesalius.core.errors import OptionUnavailable, RejectedObject
from vesalius.deid.engine import Deidentifier
from vesalius.deid.pixels import codec
from vesalius.deid.pixels.deface import EXTRA, deface_missing, deface_volume

Outcome = tuple[str, str, dict[str, Any] | None]  # as in vesalius.deid.batch
HEAD_WORDS = (
    "HEAD",
    "BRAIN",
    "SKULL",
    "NEURO",
    "CRANI",
    "CEREB",
    "FACE",
    "ORBIT",
    "SINUS",
    "KOPF",
    "SCHAEDEL",
    "SCHÄDEL",
    "TETE",
    "TÊTE",
    "CERVEAU",
)
_HEAD_TEXT = ("BodyPartExamined", "StudyDescription", "SeriesDescription", "ProtocolName")
_MODALITIES = frozenset({"MR", "CT"})


@dataclass(frozen=True)
class DefaceSettings:
    """Which objects the option covers and how volumes are defaced.

    ``all_volumes``: every MR/CT image counts as a head image (for archives whose
    headers do not say). ``buffer``: Quickshear's distance, in voxels, between the brain
    mask and the shear plane.
    """

    all_volumes: bool = False
    min_slices: int = 20
    buffer: int = 10


def covered(ds: Dataset, settings: DefaceSettings) -> bool:
    """Whether the option applies to ``ds``: an MR or CT image of a head."""
    if str(ds.get("Modality", "") or "").upper() not in _MODALITIES or "Rows" not in ds:
        return False
    if settings.all_volumes:
        return True
    text = " ".join(str(ds.get(k, "") or "") for k in _HEAD_TEXT).upper()
    return any(word in text for word in HEAD_WORDS)


@dataclass
class HeadGuard:
    """The engine's visual-feature cleaner: says which objects were defaced here.

    Objects in ``defaced`` (original SOP Instance UIDs) were defaced by
    :func:`deface_pass`; any other covered object reaching the engine is refused, so
    nothing of a head is passed on as cleaned without having been defaced.
    """

    settings: DefaceSettings = field(default_factory=DefaceSettings)
    defaced: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        missing = deface_missing()
        if missing is not None:
            raise OptionUnavailable(
                f"clean-recognizable-visual-features: defacing needs the '{EXTRA}' extra: "
                f"{missing}; leave the option out rather than mark data as cleaned"
            )

    def clean(self, ds: Dataset) -> bool:
        if str(ds.get("SOPInstanceUID", "")) in self.defaced:
            return True
        if covered(ds, self.settings):
            raise RejectedObject(
                "a head image that was not defaced as part of a 3D series "
                "(clean-recognizable-visual-features)"
            )
        return False


@dataclass
class _Slice:
    index: int
    position: np.ndarray
    orientation: np.ndarray
    spacing: tuple[float, float]


def _floats(ds: Dataset, keyword: str, count: int) -> np.ndarray | None:
    try:
        values = np.array([float(v) for v in ds.get(keyword) or ()], dtype=float)
    except (TypeError, ValueError):
        return None
    return values if values.size == count and np.isfinite(values).all() else None


def _stack_key(ds: Dataset, orientation: np.ndarray) -> tuple[Any, ...]:
    return (
        str(ds.get("SeriesInstanceUID", "")),
        tuple(np.round(orientation, 3)),
        int(ds.Rows),
        int(ds.get("Columns", 0) or 0),
        str(ds.get("EchoNumbers", "") or ""),
        str(ds.get("TemporalPositionIdentifier", "") or ""),
    )


def _plan(
    items: Sequence[Any], read: Callable[[Any], bytes], settings: DefaceSettings
) -> tuple[list[list[_Slice]], dict[int, str]]:
    """Stacks of covered slices, and covered objects withheld from the start."""
    stacks: dict[tuple[Any, ...], list[_Slice]] = defaultdict(list)
    withheld: dict[int, str] = {}
    for index, item in enumerate(items):
        try:
            ds = read_dataset(read(item))
        except Exception:
            continue  # the per-object run withholds or skips it with its own reason
        if not covered(ds, settings):
            continue
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        orientation = _floats(ds, "ImageOrientationPatient", 6)
        position = _floats(ds, "ImagePositionPatient", 3)
        spacing = _floats(ds, "PixelSpacing", 2)
        if frames > 1:
            withheld[index] = "defacing: multi-frame head images are not supported"
        elif int(ds.get("SamplesPerPixel", 1) or 1) != 1:
            withheld[index] = "defacing: colour head images are not supported"
        elif orientation is None or position is None or spacing is None:
            withheld[index] = "defacing: no image geometry (orientation, position, spacing)"
        else:
            found = _Slice(index, position, orientation, (float(spacing[0]), float(spacing[1])))
            stacks[_stack_key(ds, orientation)].append(found)
    return list(stacks.values()), withheld


@dataclass
class _Volume:
    order: list[_Slice]
    affine: np.ndarray  # voxel (column, row, slice) -> RAS mm


def _geometry(stack: list[_Slice], settings: DefaceSettings) -> _Volume:
    """Check that ``stack`` is a volume and sort it along the normal; else RejectedObject."""
    if len(stack) < settings.min_slices:
        raise RejectedObject(
            f"defacing: not a 3D volume ({len(stack)} slice(s) in its stack; "
            f"at least {settings.min_slices} needed)"
        )
    row_dir, col_dir = stack[0].orientation[:3], stack[0].orientation[3:]
    normal = np.cross(row_dir, col_dir)
    if not 0.99 < np.linalg.norm(normal) < 1.01:
        raise RejectedObject("defacing: Image Orientation (Patient) is not orthonormal")
    order = sorted(stack, key=lambda s: float(s.position @ normal))
    along = np.array([s.position @ normal for s in order])
    gaps = np.diff(along)
    if gaps.min() <= 1e-3:
        raise RejectedObject("defacing: several slices at one position in the stack")
    step = float(np.median(gaps))
    if gaps.max() > step * 1.1 or gaps.min() < step * 0.9:
        raise RejectedObject("defacing: the slices are not evenly spaced")
    if any(s.spacing != order[0].spacing for s in order):
        raise RejectedObject("defacing: the slices differ in pixel spacing")
    first = order[0].position
    row_mm, col_mm = order[0].spacing
    drift = np.array(
        [((s.position - first) @ row_dir, (s.position - first) @ col_dir) for s in order]
    )
    if np.abs(drift).max() > 0.5 * min(row_mm, col_mm):
        raise RejectedObject("defacing: the slices are not stacked along the normal (tilt)")
    affine = np.eye(4)
    affine[:3, 0] = row_dir * col_mm  # along a row: next column
    affine[:3, 1] = col_dir * row_mm  # down a column: next row
    affine[:3, 2] = normal * step
    affine[:3, 3] = first
    return _Volume(order, np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine)  # LPS -> RAS


def _rescale(ds: Dataset) -> tuple[float, float]:
    slope = float(ds.get("RescaleSlope", 1) or 1)
    return slope, float(ds.get("RescaleIntercept", 0) or 0)


def _fill(ds: Dataset, pixels: codec.Pixels, floor: float) -> int:
    """The stored value that shows ``floor`` (the volume's minimum) in this slice."""
    slope, intercept = _rescale(ds)
    bits = int(pixels.props.get("bits_stored") or pixels.props["bits_allocated"])
    signed = bool(int(pixels.props.get("pixel_representation") or 0))
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return int(np.clip(round((floor - intercept) / slope), low, high))


def _rewrite(ds: Dataset, pixels: codec.Pixels, face: np.ndarray, fill: int) -> None:
    pixels.frames[0][face] = fill
    try:
        encoded = codec.encode(pixels)
    except Exception as exc:
        raise RejectedObject(f"defaced pixel data cannot be encoded: {type(exc).__name__}") from exc
    codec.apply(ds, pixels, encoded)
    if pixels.transfer_syntax in codec.CERTAINLY_LOSSY:
        ds.LossyImageCompression = "01"


def deface_stack(datasets: list[Dataset], affine: np.ndarray, buffer: int) -> int:
    """Deface the slices (sorted along the normal) in place; the voxels blanked."""
    decoded = [codec.decode(ds) for ds in datasets]
    for pixels in decoded:
        if pixels.frames.shape[0] != 1 or pixels.frames.ndim != 3:
            raise RejectedObject("defacing: a slice is not one greyscale frame")
    volume = np.stack(
        [
            p.frames[0].T * _rescale(ds)[0] + _rescale(ds)[1]
            for p, ds in zip(decoded, datasets, strict=True)
        ],
        axis=2,
    )
    face = deface_volume(volume, affine, buffer)
    floor = float(volume.min())
    for k, (ds, pixels) in enumerate(zip(datasets, decoded, strict=True)):
        region = face[:, :, k].T
        if region.any():
            _rewrite(ds, pixels, region, _fill(ds, pixels, floor))
    return int(face.sum())


def deface_pass(
    items: Sequence[Any],
    *,
    read: Callable[[Any], bytes],
    engine: Deidentifier,
    guard: HeadGuard,
    write: Callable[[str, bytes], None],
) -> dict[int, Outcome]:
    """Deface, de-identify and write every covered object; outcomes by item index.

    Items not in the answer are not covered and go through the per-object run.
    """
    stacks, withheld = _plan(items, read, guard.settings)
    outcomes: dict[int, Outcome] = {i: ("withheld", r, None) for i, r in withheld.items()}
    for stack in stacks:
        try:
            volume = _geometry(stack, guard.settings)
            datasets = [read_dataset(read(items[s.index])) for s in volume.order]
            blanked = deface_stack(datasets, volume.affine, guard.settings.buffer)
        except RejectedObject as exc:
            outcomes.update({s.index: ("withheld", str(exc), None) for s in stack})
            continue
        except Exception as exc:  # no value in the reason
            reason = f"defacing failed: {type(exc).__name__}"
            outcomes.update({s.index: ("withheld", reason, None) for s in stack})
            continue
        for found, ds in zip(volume.order, datasets, strict=True):
            outcomes[found.index] = _deidentify(ds, engine, guard, write, blanked)
    return outcomes


def _deidentify(
    ds: Dataset,
    engine: Deidentifier,
    guard: HeadGuard,
    write: Callable[[str, bytes], None],
    blanked: int,
) -> Outcome:
    guard.defaced.add(str(ds.SOPInstanceUID))
    try:
        result = engine.deidentify(ds)
        data = result.to_bytes()
    except RejectedObject as exc:
        return ("withheld", str(exc), None)
    except Exception as exc:
        return ("withheld", f"failed: {type(exc).__name__}", None)
    report = result.report
    report.pixels = f"defaced ({blanked} voxel(s) of the volume blanked); {report.pixels}"
    relative = "/".join(
        (report.study_instance_uid, report.series_instance_uid, f"{report.sop_instance_uid}.dcm")
    )
    write(relative, data)
    return ("written", relative, report.to_dict())
