"""Defacing a head volume: a brain mask, then Quickshear's shear plane.

Quickshear (Schimke N., Hale J., "Quickshear Defacing for Neuroimages", Proceedings of
the 2nd USENIX Conference on Health Security and Privacy, 2011; the ``quickshear``
package on PyPI, BSD) takes a brain mask, fits a plane along the lower hull of the
mask's sagittal profile (below and in front of the brain), moves it ``buffer`` voxels
away from the brain and zeroes every voxel on the face side of it.

The brain mask is ours: the published pipelines use FSL BET, and its Python port
(``brainextractor``) pulls numba, trimesh and pyrender (an OpenGL renderer) into a
de-identification tool. A head is darker than the brain inside it in T1 MR and CT
alike once the skull and the scalp are cut away, so: the head is what lies above 10 % of
the robust (2-98 %) range, as in BET; the brain candidates lie above the Otsu threshold
of the head's values; an erosion that cuts thin bridges between brain
and scalp or face, the largest connected component, the erosion undone, holes filled.
That is a heuristic; a mask it cannot trust (empty, or most of the head) is a failure
that withholds the series, never a guess passed as defaced.

Needs the ``deface`` extra (quickshear, nibabel, scipy): :func:`deface_missing` says
what is missing, so the option fails with a clear error instead of claiming a clean.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np

from vesalius.core.errors import RejectedObject

EXTRA = "deface"
_MODULES = ("quickshear", "nibabel", "scipy.ndimage")
ERODE_VOXELS = 2
MIN_BRAIN_FRACTION = 0.02  # of the head's voxels
MAX_BRAIN_FRACTION = 0.9


def deface_missing() -> str | None:
    """Why defacing cannot run here (a module of the ``deface`` extra is missing), or None."""
    for name in _MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            return f"{name.split('.')[0]} is not installed (install vesalius' {EXTRA!r} extra)"
    return None


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that best splits ``values`` into two classes (Otsu 1979)."""
    counts, edges = np.histogram(values, bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts).astype(float)
    mass = np.cumsum(counts * centres)
    total, total_mass = weight[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * weight / total - mass) ** 2 / (weight * (total - weight))
    between = np.nan_to_num(between[:-1], nan=-1.0, posinf=-1.0)
    return float(centres[int(np.argmax(between))])


def brain_mask(volume: np.ndarray) -> np.ndarray:
    """A boolean brain mask of ``volume`` (real-world values); RejectedObject when none."""
    from scipy import ndimage

    values = volume.astype(np.float64, copy=False)
    if not np.isfinite(values).all() or values.max() <= values.min():
        raise RejectedObject("defacing: the volume is empty or flat; no brain mask")
    low, high = np.percentile(values, (2, 98))
    head = values > low + 0.1 * (high - low)  # BET's head threshold
    inside = values[head]
    if inside.size == 0 or inside.max() <= inside.min():
        raise RejectedObject("defacing: no head found in the volume; no brain mask")
    bright = values > otsu(inside)
    core = ndimage.binary_erosion(bright, iterations=ERODE_VOXELS)
    labels, count = ndimage.label(core)
    if count == 0:
        raise RejectedObject("defacing: the brain mask is empty")
    sizes = np.bincount(labels.ravel())[1:]
    mask = labels == int(np.argmax(sizes)) + 1
    mask = ndimage.binary_dilation(mask, iterations=ERODE_VOXELS) & bright
    mask = ndimage.binary_closing(mask, iterations=ERODE_VOXELS)
    mask = ndimage.binary_fill_holes(mask)
    fraction = mask.sum() / max(int(ndimage.binary_fill_holes(head).sum()), 1)
    if not MIN_BRAIN_FRACTION <= fraction <= MAX_BRAIN_FRACTION:
        raise RejectedObject(
            f"defacing: the brain mask is implausible ({fraction:.0%} of the head)"
        )
    return mask


def face_region(mask: np.ndarray, affine: np.ndarray, buffer: int) -> np.ndarray:
    """Voxels on the face side of Quickshear's plane (True: to be blanked).

    ``affine`` maps voxel indices to RAS millimetres (nibabel's convention).
    """
    import nibabel
    import quickshear

    ones = nibabel.Nifti1Image(np.ones(mask.shape, np.uint8), affine)
    brain = nibabel.Nifti1Image(mask.astype(np.uint8), affine)
    try:
        with np.errstate(divide="raise", invalid="raise"), warnings.catch_warnings():
            # quickshear 1.2.0 calls np.cross on 2D vectors (deprecated in NumPy 2)
            warnings.simplefilter("ignore", DeprecationWarning)
            kept = quickshear.quickshear(ones, brain, buffer)
    except Exception as exc:
        raise RejectedObject(
            f"defacing: no shear plane could be fitted ({type(exc).__name__})"
        ) from None
    return ~np.asanyarray(kept.dataobj).astype(bool)


def deface_volume(volume: np.ndarray, affine: np.ndarray, buffer: int = 10) -> np.ndarray:
    """The face region of ``volume`` (real-world values; axes as ``affine`` maps them)."""
    mask = brain_mask(volume)
    region = face_region(mask, affine, buffer)
    if (region & mask).any():
        raise RejectedObject("defacing: the shear plane cuts into the brain mask")
    if not region.any():
        raise RejectedObject("defacing: the shear plane removes nothing")
    return region
