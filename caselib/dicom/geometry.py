"""Slice order and geometry of a series, from (0020,0032) and (0020,0037).

The rules (PS3.3 C.7.6.2.1.1):

* Image Orientation (Patient) gives the row and column direction cosines
  ``r`` and ``c`` in the patient's LPS frame; the slice normal is ``n = r x c``.
* Image Position (Patient) ``p`` is the centre of the first transmitted pixel;
  a frame's place along the stack is ``d = p . n``.
* Frames are sorted by ``d``.  When some frame lacks a position, or the frames
  do not share one orientation, they are sorted by (0020,0013) Instance Number
  and frame number instead, and :attr:`SeriesGeometry.warnings` says so.
* The spacing between slices is the difference of consecutive ``d``; it is
  reported as it is, uneven or not.  With a tilted gantry the positions move
  along the table, not along ``n``: the angle between the stacking direction
  and ``n`` is the tilt.

Everything here is pure numpy on the header values; no pixel is read.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from caselib.dicom.header import format_tag

if TYPE_CHECKING:
    from caselib.dicom.model import Frame

__all__ = [
    "SeriesGeometry",
    "classify_orientation",
    "compute_geometry",
    "DUPLICATE_TOLERANCE_MM",
    "TILT_TOLERANCE_DEGREES",
]

#: Frames closer than this along the normal share a position.
DUPLICATE_TOLERANCE_MM = 1e-3
#: Angles between stacking direction and slice normal below this are not a tilt.
TILT_TOLERANCE_DEGREES = 0.5
#: Orientation differences below this (per direction cosine) count as equal.
ORIENTATION_TOLERANCE = 1e-4
#: A plane is named after the nearest axis when its normal is within this angle of it.
OBLIQUE_LIMIT_DEGREES = 30.0

_PROJECTION_MODALITIES = frozenset({"CR", "DX", "MG", "RF", "XA", "IO", "PX", "RG", "DF", "DS"})


@dataclass(frozen=True)
class SeriesGeometry:
    """How the frames of a series sit in space.

    Attributes
    ----------
    kind : str
        ``"volume"`` (two or more frames sorted along the normal),
        ``"slice"`` (one cross-sectional frame with a position),
        ``"projection"`` (a radiograph: CR, DX, MG ...), ``"cine"`` (the frames
        of one multi-frame object without positions: ultrasound loops, XA runs),
        ``"image"`` (one frame without position, e.g. a still ultrasound or a
        photograph), or ``"stack"`` (frames without usable positions, ordered
        by number).
    sorted_by : str
        ``"position"``, ``"instance number"`` or ``"frame number"``.
    orientation : str or None
        ``"axial"``, ``"sagittal"``, ``"coronal"`` or ``"oblique"``.
    direction_cosines : numpy.ndarray or None
        3x3: row direction, column direction, slice normal (LPS).
    slice_positions : numpy.ndarray or None
        ``d = p . n`` of each frame in order, mm.
    slice_spacings : numpy.ndarray or None
        Distances between consecutive distinct planes along the normal, mm.
    slice_spacing : float or None
        Their median (``(0018,0088)`` Spacing Between Slices or the thickness
        for a single slice).
    position_steps : numpy.ndarray or None
        Distances between consecutive distinct positions (longer than the
        spacing when the gantry is tilted), mm.
    uniform_spacing : bool
        Whether all spacings agree within 1 % (or 0.01 mm).
    tilt_degrees : float
        Angle between the stacking direction and the normal (0 for a straight stack).
    affine : numpy.ndarray or None
        4x4, ``(column, row, slice, 1)`` to LPS mm; ``None`` with the reason in
        :attr:`affine_problem`.
    warnings : tuple of str
        Human-readable: uneven spacing, tilt, missing positions, mixed
        orientations or sizes, duplicate positions.
    """

    kind: str
    sorted_by: str
    orientation: str | None = None
    direction_cosines: np.ndarray | None = field(default=None, repr=False)
    slice_positions: np.ndarray | None = field(default=None, repr=False)
    slice_spacings: np.ndarray | None = field(default=None, repr=False)
    slice_spacing: float | None = None
    position_steps: np.ndarray | None = field(default=None, repr=False)
    uniform_spacing: bool = True
    tilt_degrees: float = 0.0
    affine: np.ndarray | None = field(default=None, repr=False)
    affine_problem: str = ""
    warnings: tuple[str, ...] = ()


def classify_orientation(normal: ArrayLike) -> str:
    """Name the plane whose normal (LPS) is `normal`.

    ``"axial"`` when the normal is within 30 degrees of the patient's
    superior-inferior axis, ``"coronal"`` for anterior-posterior,
    ``"sagittal"`` for left-right, else ``"oblique"``.

    Examples
    --------
    >>> classify_orientation([0, 0, 1])
    'axial'
    >>> classify_orientation([0, 0.317, 0.948])   # 18.5 degree tilted head CT
    'axial'
    >>> classify_orientation([1, 0, 0]), classify_orientation([0, -1, 0])
    ('sagittal', 'coronal')
    >>> classify_orientation([0.7, 0.7, 0.14])
    'oblique'
    """
    n = np.abs(np.asarray(normal, dtype=float))
    norm = float(np.linalg.norm(n))
    if norm == 0:
        raise ValueError("classify_orientation() needs a non-zero normal")
    n = n / norm
    axis = int(np.argmax(n))
    if n[axis] < math.cos(math.radians(OBLIQUE_LIMIT_DEGREES)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def _sort_by_number(frames: Sequence[Frame]) -> list[Frame]:
    return sorted(frames, key=lambda f: (f.instance.instance_number is None,
                                         f.instance.instance_number or 0,
                                         f.index, f.instance.source))


def _describe_range(values: np.ndarray) -> str:
    return f"{float(values.min()):.2f}-{float(values.max()):.2f} mm"


def _affine_from(first: Frame, cosines: np.ndarray, step: np.ndarray) -> np.ndarray:
    assert first.pixel_spacing is not None and first.position is not None
    row_spacing, col_spacing = first.pixel_spacing
    affine = np.eye(4)
    affine[:3, 0] = cosines[0] * col_spacing   # along a row: next column
    affine[:3, 1] = cosines[1] * row_spacing   # down a column: next row
    affine[:3, 2] = step
    affine[:3, 3] = first.position
    return affine


def compute_geometry(
    frames: Sequence[Frame], *, label: str = "series", modality: str = ""
) -> tuple[list[Frame], SeriesGeometry]:
    """Sort `frames` and describe their geometry.

    Parameters
    ----------
    frames : sequence of Frame
        The frames of one series, in any order.
    label : str
        How the series is named in messages.
    modality : str
        (0008,0060) Modality, to tell projections from other images.

    Returns
    -------
    (list of Frame, SeriesGeometry)
        The frames in display order, and their geometry.
    """
    warnings: list[str] = []
    if not frames:
        return [], SeriesGeometry(kind="none", sorted_by="none",
                                  affine_problem=f"{label}: has no image frames")

    sizes = Counter((f.instance.rows, f.instance.columns) for f in frames)
    if len(sizes) > 1:
        listing = ", ".join(f"{r}x{c} ({n})" for (r, c), n in sizes.most_common())
        warnings.append(f"mixed frame sizes: {listing}; the frames do not form one volume")

    with_position = [f for f in frames if f.position is not None and f.orientation is not None]
    single_object = len({id(f.instance) for f in frames}) == 1

    # ---------------------------------------------------------------- no usable positions
    if len(with_position) < len(frames):
        ordered = _sort_by_number(frames)
        first = ordered[0]
        if with_position:
            missing = len(frames) - len(with_position)
            warnings.append(
                f"missing positions: {missing} of {len(frames)} frames lack (0020,0032) "
                "Image Position (Patient) or (0020,0037) Image Orientation (Patient); "
                "sorted by (0020,0013) Instance Number"
            )
        if len(frames) == 1:
            kind = "projection" if modality in _PROJECTION_MODALITIES else "image"
        elif single_object:
            kind = "cine"
        else:
            kind = "stack"
            if not with_position:
                warnings.append(
                    f"no positions: none of the {len(frames)} frames has (0020,0032) Image "
                    "Position (Patient); sorted by (0020,0013) Instance Number"
                )
        cosines = None
        orientation = None
        if first.orientation is not None:
            r = np.array(first.orientation[:3])
            c = np.array(first.orientation[3:])
            cosines = np.vstack([r, c, np.cross(r, c)])
            orientation = classify_orientation(cosines[2])
        problem = (f"{label}: frames lack (0020,0032) Image Position (Patient) or "
                   "(0020,0037) Image Orientation (Patient); no voxel-to-patient affine")
        return ordered, SeriesGeometry(
            kind=kind,
            sorted_by="frame number" if single_object else "instance number",
            orientation=orientation,
            direction_cosines=cosines,
            affine_problem=problem,
            warnings=tuple(warnings),
        )

    # ---------------------------------------------------------------- orientations
    orientations = np.array([f.orientation for f in frames], dtype=float)
    reference = orientations[0]
    distinct = np.unique(np.round(orientations / ORIENTATION_TOLERANCE).astype(np.int64), axis=0)
    r = reference[:3] / np.linalg.norm(reference[:3])
    c = reference[3:] / np.linalg.norm(reference[3:])
    normal = np.cross(r, c)
    normal /= np.linalg.norm(normal)
    cosines = np.vstack([r, c, normal])
    if len(distinct) > 1 and not np.allclose(orientations, reference, atol=ORIENTATION_TOLERANCE):
        warnings.append(
            f"mixed orientations: {len(distinct)} different (0020,0037) Image Orientation "
            "(Patient) values (a localizer or several planes in one series); sorted by "
            "(0020,0013) Instance Number"
        )
        ordered = _sort_by_number(frames)
        return ordered, SeriesGeometry(
            kind="stack", sorted_by="instance number",
            orientation=classify_orientation(normal), direction_cosines=cosines,
            affine_problem=f"{label}: frames have different orientations; no single affine",
            warnings=tuple(warnings),
        )

    # ---------------------------------------------------------------- sort along the normal
    positions = np.array([f.position for f in frames], dtype=float)
    d = positions @ normal
    order = sorted(range(len(frames)), key=lambda i: (
        d[i], frames[i].instance.instance_number is None,
        frames[i].instance.instance_number or 0, frames[i].index, frames[i].instance.source))
    ordered = [frames[i] for i in order]
    d = d[order]
    positions = positions[order]
    orientation = classify_orientation(normal)
    first = ordered[0]

    if len(ordered) == 1:
        thickness = first.instance.spacing_between_slices or first.slice_thickness
        problem = ""
        affine = None
        if first.pixel_spacing is None:
            problem = (f"{first.instance.source}: expected (0028,0030) Pixel Spacing, "
                       "found none; no voxel-to-patient affine")
        else:
            affine = _affine_from(first, cosines, normal * (thickness or 1.0))
        return ordered, SeriesGeometry(
            kind="slice", sorted_by="position", orientation=orientation,
            direction_cosines=cosines, slice_positions=d, slice_spacing=thickness,
            affine=affine, affine_problem=problem, warnings=tuple(warnings),
        )

    gaps = np.diff(d)
    duplicate = gaps < DUPLICATE_TOLERANCE_MM
    n_dup = int(duplicate.sum())
    keep = np.concatenate([[True], ~duplicate])
    unique_d = d[keep]
    unique_p = positions[keep]
    if n_dup:
        warnings.append(
            f"duplicate positions: {n_dup} of {len(ordered)} frames repeat the position of "
            "another frame (several echoes, phases, time points or acquisitions in one series?)"
        )
    spacings = np.diff(unique_d)
    steps_vec = np.diff(unique_p, axis=0)
    steps = np.linalg.norm(steps_vec, axis=1) if len(steps_vec) else np.zeros(0)

    uniform = True
    spacing: float | None = None
    tilt = 0.0
    if len(spacings):
        spacing = float(np.median(spacings))
        tolerance = max(0.01, 0.01 * abs(spacing))
        uniform = bool(spacings.max() - spacings.min() <= tolerance)
        span = unique_p[-1] - unique_p[0]
        length = float(np.linalg.norm(span))
        if length > 0:
            cos_angle = min(1.0, abs(float(span @ normal)) / length)
            tilt = math.degrees(math.acos(cos_angle))
        if not uniform:
            text = f"uneven slice spacing: {_describe_range(spacings)} between planes"
            if tilt > TILT_TOLERANCE_DEGREES:
                text += f" ({_describe_range(steps)} between positions)"
            text += f", median {spacing:.2f} mm; the affine uses the mean step"
            warnings.append(text)
    if tilt > TILT_TOLERANCE_DEGREES:
        tag_tilt = first.instance.gantry_tilt
        stated = (f"; {format_tag(0x00181120)} = {tag_tilt:g}" if tag_tilt is not None else "")
        warnings.append(
            f"gantry tilt {tilt:.1f} degrees: slice positions move {tilt:.1f} degrees off the "
            f"slice normal, so the volume is sheared{stated}"
        )

    problem = ""
    affine = None
    if first.pixel_spacing is None:
        problem = (f"{first.instance.source}: expected (0028,0030) Pixel Spacing, found none; "
                   "no voxel-to-patient affine")
    elif n_dup:
        problem = (f"{label}: {n_dup} frames share positions; the frames are not one volume, "
                   "so there is no single affine")
    elif len(sizes) > 1:
        problem = f"{label}: frames have different sizes; no single affine"
    else:
        step = (unique_p[-1] - unique_p[0]) / (len(unique_p) - 1)
        affine = _affine_from(first, cosines, step)

    return ordered, SeriesGeometry(
        kind="volume",
        sorted_by="position",
        orientation=orientation,
        direction_cosines=cosines,
        slice_positions=d,
        slice_spacings=spacings,
        slice_spacing=spacing,
        position_steps=steps,
        uniform_spacing=uniform,
        tilt_degrees=tilt,
        affine=affine,
        affine_problem=problem,
        warnings=tuple(warnings),
    )
