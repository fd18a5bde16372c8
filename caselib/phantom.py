"""Synthetic CT phantoms with lesions of known size and HU, for measurement drills.

Every image this module writes is **synthetic**: no patient was ever scanned.
The series says so in (0010,0010) Patient Name (``SYN^<name>``), (0008,103E)
Series Description, (0020,4000) Image Comments and (0008,0008) Image Type
(``DERIVED\\SECONDARY\\AXIAL\\SYNTHETIC``).

A phantom is an elliptical "body" of soft tissue (``body_hu``) in air
(-1000 HU), with :class:`Lesion` objects painted on it in order (later ones
over earlier ones): spheres (a nodule, a cyst, a calcification) or
cylinders along the slice axis (a lung, a fat region).  Edges are hard: a
voxel belongs to a lesion when its centre lies inside, so the ground truth is
exact.  Seeded Gaussian noise (``noise_sd`` HU) is added and the values are
rounded to whole HU.

Coordinates
-----------
Voxel coordinates are ``(slice, row, col)``; slice ``k`` is the ``k``-th
image in display order (increasing z).  Patient coordinates are DICOM LPS
``(x, y, z)`` in mm (PS3.3 C.7.6.2.1.1); the volume is centred on ``(0, 0, 0)``,
axial, with ``x = x0 + col * col_mm``, ``y = y0 + row * row_mm``,
``z = z0 + slice * slice_mm``.

Everything is deterministic for a given specification: the same arguments
give byte-identical files (UIDs come from :func:`pydicom.uid.generate_uid`
with the name, seed and a digest of all parameters as entropy; dates are fixed).

Examples
--------
>>> from caselib.phantom import Lesion, make_ct_phantom
>>> info = make_ct_phantom("out/phantom-01", name="PHANTOM-01", seed=1,
...                        shape=(16, 128, 128), spacing=(2.5, 0.8, 0.8),
...                        lesions=[Lesion(name="nodule", center_voxel=(8, 64, 64),
...                                        radius_mm=6, hu=40)])   # doctest: +SKIP
>>> info.lesion("nodule").diameter_mm                              # doctest: +SKIP
12.0
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

__all__ = [
    "Lesion",
    "LesionTruth",
    "PhantomInfo",
    "make_ct_phantom",
    "phantom_from_dict",
    "load_phantom_spec",
    "build_case_phantom",
    "case_answer_key",
    "AIR_HU",
    "SYNTHETIC_SERIES_DESCRIPTION",
]

#: HU of the air around the body
AIR_HU = -1000.0
#: (0008,103E) Series Description of every phantom series
SYNTHETIC_SERIES_DESCRIPTION = "SYNTHETIC phantom — not a patient"
_IMAGE_COMMENTS = ("SYNTHETIC IMAGE: computer-generated (simulated) by caselib.phantom; not a patient. "
                   "Ground truth: name {name}, seed {seed}.")
_SHAPES = ("sphere", "cylinder")
_STORED_OFFSET = 1024      # stored = HU + 1024, (0028,1052) Rescale Intercept -1024
_STORED_MAX = 4095         # 12 bits stored


def _triple(value: object, what: str) -> tuple[float, float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise TypeError(f"{what} must be 3 numbers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{what} must be 3 numbers, got {value!r}")
        if not math.isfinite(float(v)):
            raise ValueError(f"{what} must be finite, got {value!r}")
        out.append(float(v))
    return out[0], out[1], out[2]


@dataclass(frozen=True)
class Lesion:
    """One structure painted on the phantom.

    Parameters
    ----------
    radius_mm : float
        Sphere radius, or the in-plane radius of a cylinder.
    hu : float
        Its value in HU (before noise).
    center_voxel : (slice, row, col), optional
        Centre in voxel coordinates (may be fractional).
    center_mm : (x, y, z), optional
        Centre in patient coordinates (DICOM LPS, mm).  Give exactly one of
        ``center_voxel`` and ``center_mm``.
    shape : {"sphere", "cylinder"}
        A cylinder runs along the slice axis over ``half_length_mm`` either
        side of its centre (the whole volume by default).
    name : str
        Label used in :class:`PhantomInfo` (``"lesion-<i>"`` if empty).
    half_length_mm : float, optional
        Cylinders only.

    Examples
    --------
    >>> Lesion(radius_mm=5, hu=40, center_voxel=(8, 64, 64), name="nodule").shape
    'sphere'
    >>> Lesion(radius_mm=5, hu=40)
    Traceback (most recent call last):
    ...
    ValueError: Lesion needs exactly one of center_voxel and center_mm, got neither
    """

    radius_mm: float
    hu: float
    center_voxel: tuple[float, float, float] | None = None
    center_mm: tuple[float, float, float] | None = None
    shape: str = "sphere"
    name: str = ""
    half_length_mm: float | None = None

    def __post_init__(self) -> None:
        given = [v is not None for v in (self.center_voxel, self.center_mm)]
        if sum(given) != 1:
            found = "both" if all(given) else "neither"
            raise ValueError(f"Lesion needs exactly one of center_voxel and center_mm, got {found}")
        if self.center_voxel is not None:
            object.__setattr__(self, "center_voxel", _triple(self.center_voxel, "Lesion.center_voxel"))
        if self.center_mm is not None:
            object.__setattr__(self, "center_mm", _triple(self.center_mm, "Lesion.center_mm"))
        for attr, positive in (("radius_mm", True), ("hu", False)):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TypeError(f"Lesion.{attr} must be a finite number, got {v!r}")
            if positive and v <= 0:
                raise ValueError(f"Lesion.{attr} must be positive, got {v!r}")
            object.__setattr__(self, attr, float(v))
        if self.shape not in _SHAPES:
            raise ValueError(f"Lesion.shape must be one of {', '.join(_SHAPES)}, got {self.shape!r}")
        if self.half_length_mm is not None:
            if self.shape != "cylinder":
                raise ValueError("Lesion.half_length_mm applies to cylinders only")
            if not float(self.half_length_mm) > 0:
                raise ValueError(f"Lesion.half_length_mm must be positive, got {self.half_length_mm!r}")
            object.__setattr__(self, "half_length_mm", float(self.half_length_mm))
        if not isinstance(self.name, str):
            raise TypeError(f"Lesion.name must be a str, got {type(self.name).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """The ``phantom.yaml`` form (``None`` fields left out)."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items() if v is not None and v != ""}


@dataclass(frozen=True)
class LesionTruth:
    """The ground truth of one lesion as written.

    Attributes
    ----------
    name, shape : str
    center_voxel : (slice, row, col)
    center_mm : (x, y, z)
        Patient coordinates (LPS, mm).
    radius_mm, diameter_mm : float
        ``diameter_mm`` is the true (continuous) diameter, ``2 * radius_mm``.
    hu : float
        The value of every voxel of the lesion before noise (the expected mean).
    background_hu : float
        The noise-free value around the lesion (at its centre before painting it).
    slices : tuple of int
        The slices (display order) that hold at least one voxel of the lesion.
    center_slice : int
        The slice nearest the centre (where the lesion is widest).
    voxel_count : int
        Voxels of the lesion still visible (not painted over by later lesions).
    """

    name: str
    shape: str
    center_voxel: tuple[float, float, float]
    center_mm: tuple[float, float, float]
    radius_mm: float
    diameter_mm: float
    hu: float
    background_hu: float
    slices: tuple[int, ...]
    center_slice: int
    voxel_count: int

    @property
    def center_rc(self) -> tuple[float, float]:
        """``(row, col)`` of the centre on :attr:`center_slice`."""
        return self.center_voxel[1], self.center_voxel[2]


@dataclass(frozen=True)
class PhantomInfo:
    """What :func:`make_ct_phantom` wrote, with the ground truth of every lesion.

    Attributes
    ----------
    name : str
        Phantom name (Patient Name is ``SYN^<name>``).
    seed : int
    shape : (slices, rows, cols)
    spacing : (slice_mm, row_mm, col_mm)
    body_hu, noise_sd : float
    files : tuple of Path
        The written slices, in display order.
    study_uid, series_uid, frame_of_reference_uid : str
    lesions : tuple of LesionTruth
    spec_digest : str
        sha256 of the canonical specification (all parameters).
    """

    name: str
    seed: int
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    body_hu: float
    noise_sd: float
    files: tuple[Path, ...]
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    lesions: tuple[LesionTruth, ...]
    spec_digest: str
    patient_id: str = ""

    @property
    def pixel_spacing(self) -> tuple[float, float]:
        """(0028,0030) Pixel Spacing ``(row_mm, col_mm)``."""
        return self.spacing[1], self.spacing[2]

    def lesion(self, name: str) -> LesionTruth:
        """The lesion called ``name``.

        Raises
        ------
        KeyError
            Naming the lesions there are.
        """
        for les in self.lesions:
            if les.name == name:
                return les
        raise KeyError(f"no lesion {name!r} in phantom {self.name}; "
                       f"lesions: {', '.join(x.name for x in self.lesions)}")

    def voxel_to_mm(self, voxel: Sequence[float]) -> tuple[float, float, float]:
        """``(slice, row, col)`` -> patient ``(x, y, z)`` mm."""
        k, r, c = _triple(voxel, "voxel")
        x0, y0, z0 = self.origin_mm
        return (x0 + c * self.spacing[2], y0 + r * self.spacing[1], z0 + k * self.spacing[0])

    def mm_to_voxel(self, point_mm: Sequence[float]) -> tuple[float, float, float]:
        """Patient ``(x, y, z)`` mm -> ``(slice, row, col)``."""
        x, y, z = _triple(point_mm, "point_mm")
        x0, y0, z0 = self.origin_mm
        return ((z - z0) / self.spacing[0], (y - y0) / self.spacing[1], (x - x0) / self.spacing[2])

    def diameter_tolerance_mm(self, pixels: float = 1.5) -> float:
        """Tolerance for an in-plane diameter: ``pixels`` of the coarser pixel spacing.

        One pixel is the quantisation of a hard-edged lesion's measured
        extent; the extra half pixel allows for caliper placement.  Rounded
        up to 0.1 mm.
        """
        return math.ceil(pixels * max(self.pixel_spacing) * 10 - 1e-9) / 10

    def hu_tolerance(self, name: str, *, k: float = 3.0, roi_fraction: float = 0.5,
                     floor_hu: float = 1.0) -> float:
        """Tolerance for the mean HU of lesion ``name`` measured with a circular ROI.

        ``k`` standard errors of the mean of an ROI of radius
        ``roi_fraction * radius`` on the central slice
        (``k * noise_sd / sqrt(n)``), at least ``floor_hu``, rounded up to
        0.5 HU.  A student whose ROI is at least that big and inside the
        lesion is graded correct with probability > 99.7 %.
        """
        les = self.lesion(name)
        rr = roi_fraction * les.radius_mm / self.spacing[1]
        rc = roi_fraction * les.radius_mm / self.spacing[2]
        n = _count_ellipse(rr, rc)
        tol = max(floor_hu, k * self.noise_sd / math.sqrt(max(n, 1)))
        return math.ceil(tol * 2 - 1e-9) / 2

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (paths as strings)."""
        d = asdict(self)
        d["files"] = [str(p) for p in self.files]
        return d


def _count_ellipse(rr: float, rc: float) -> int:
    r = np.arange(-math.ceil(rr), math.ceil(rr) + 1)[:, None] / rr
    c = np.arange(-math.ceil(rc), math.ceil(rc) + 1)[None, :] / rc
    return int(np.count_nonzero(r * r + c * c <= 1.0))


# --------------------------------------------------------------------------- building


def _canonical_spec(name: str, seed: int, shape: tuple[int, int, int],
                    spacing: tuple[float, float, float], body_hu: float,
                    body_radii_mm: tuple[float, float], noise_sd: float,
                    lesions: Sequence[Lesion], patient_id: str) -> str:
    spec = {"name": name, "seed": seed, "shape": list(shape), "spacing": list(spacing),
            "body_hu": body_hu, "body_radii_mm": list(body_radii_mm), "noise_sd": noise_sd,
            "lesions": [les.to_dict() for les in lesions], "patient_id": patient_id,
            "version": 1}
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _uid(digest: str, *parts: object) -> str:
    return generate_uid(entropy_srcs=["caselib.phantom", digest, *map(str, parts)])


def make_ct_phantom(
    out_dir: str | os.PathLike[str],
    *,
    name: str,
    seed: int,
    shape: Sequence[int] = (24, 256, 256),
    spacing: Sequence[float] = (2.5, 0.75, 0.75),
    body_hu: float = 40.0,
    body_radii_mm: Sequence[float] | None = None,
    lesions: Sequence[Lesion] = (),
    noise_sd: float = 10.0,
    patient_id: str | None = None,
) -> PhantomInfo:
    """Write a synthetic axial CT series and return its ground truth.

    Parameters
    ----------
    out_dir : path-like
        Folder for the slices (created); files are ``slice-000.dcm``, ... in
        display order.  Existing ``slice-*.dcm`` files there are overwritten.
    name : str
        Phantom name, e.g. ``"PHANTOM-01"``; Patient Name ``SYN^<name>``.
    seed : int
        Seeds the noise and the UIDs.
    shape : (slices, rows, cols)
    spacing : (slice_mm, row_mm, col_mm)
        Slice spacing (also the Slice Thickness) and Pixel Spacing.
    body_hu : float
        The soft-tissue "body", an ellipse through all slices, in air.
    body_radii_mm : (row_mm, col_mm), optional
        Semi-axes of the body; default 40 % and 45 % of the field of view.
    lesions : sequence of Lesion
        Painted in order, later over earlier.
    noise_sd : float
        SD of the Gaussian noise in HU (0 for none).
    patient_id : str, optional
        Default ``"SYN-<seed:04d>"``.

    Returns
    -------
    PhantomInfo

    Raises
    ------
    TypeError, ValueError
        On an invalid argument or a lesion whose centre is outside the volume.
    """
    if not isinstance(name, str) or not name.strip() or "^" in name or "\\" in name:
        raise ValueError(f"name must be a non-empty str without '^' or '\\', got {name!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    if len(shape) != 3 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in shape):
        raise ValueError(f"shape must be 3 positive ints (slices, rows, cols), got {shape!r}")
    n_sl, rows, cols = (int(v) for v in shape)
    sp = _triple(spacing, "spacing")
    if min(sp) <= 0:
        raise ValueError(f"spacing must be positive mm (slice_mm, row_mm, col_mm), got {spacing!r}")
    if not (isinstance(noise_sd, (int, float)) and math.isfinite(noise_sd) and noise_sd >= 0):
        raise ValueError(f"noise_sd must be a non-negative number, got {noise_sd!r}")
    if body_radii_mm is None:
        body_radii = (round(0.40 * rows * sp[1], 3), round(0.45 * cols * sp[2], 3))
    else:
        if len(body_radii_mm) != 2 or min(body_radii_mm) <= 0:
            raise ValueError(f"body_radii_mm must be 2 positive mm, got {body_radii_mm!r}")
        body_radii = (float(body_radii_mm[0]), float(body_radii_mm[1]))
    pid = patient_id if patient_id is not None else f"SYN-{seed:04d}"
    body_hu = float(body_hu)
    noise_sd = float(noise_sd)
    lesions = list(lesions)
    names = []
    for i, les in enumerate(lesions):
        if not isinstance(les, Lesion):
            raise TypeError(f"lesions[{i}] must be a Lesion, got {type(les).__name__}")
        names.append(les.name or f"lesion-{i}")
    if len(set(names)) != len(names):
        raise ValueError(f"lesion names must be unique, got {names}")

    origin = (-(cols - 1) / 2 * sp[2], -(rows - 1) / 2 * sp[1], -(n_sl - 1) / 2 * sp[0])
    spec = _canonical_spec(name, seed, (n_sl, rows, cols), sp, body_hu, body_radii, noise_sd,
                           lesions, pid)
    digest = hashlib.sha256(spec.encode()).hexdigest()

    # noise-free volume, in mm offsets
    kk = np.arange(n_sl, dtype=np.float64)[:, None, None] * sp[0]
    rr = np.arange(rows, dtype=np.float64)[None, :, None] * sp[1]
    cc = np.arange(cols, dtype=np.float64)[None, None, :] * sp[2]
    vol = np.full((n_sl, rows, cols), AIR_HU, dtype=np.float64)
    cr, ccol = (rows - 1) / 2 * sp[1], (cols - 1) / 2 * sp[2]
    body = ((rr - cr) / body_radii[0]) ** 2 + ((cc - ccol) / body_radii[1]) ** 2 <= 1.0
    vol[np.broadcast_to(body, vol.shape)] = body_hu

    info_stub = PhantomInfo(name, seed, (n_sl, rows, cols), sp, origin, body_hu, noise_sd, (),
                            "", "", "", (), digest, pid)
    masks: list[NDArray[np.bool_]] = []
    pending: list[dict[str, Any]] = []
    owner = np.full(vol.shape, -1, dtype=np.int32)
    for i, les in enumerate(lesions):
        if les.center_voxel is not None:
            cv = les.center_voxel
        else:
            assert les.center_mm is not None
            cv = info_stub.mm_to_voxel(les.center_mm)
        if not all(-0.5 <= v <= n - 0.5 for v, n in zip(cv, (n_sl, rows, cols))):
            raise ValueError(f"lesion {names[i]!r}: centre {cv} (slice, row, col) is outside the "
                             f"volume of shape {(n_sl, rows, cols)}")
        dz, dy, dx = kk - cv[0] * sp[0], rr - cv[1] * sp[1], cc - cv[2] * sp[2]
        if les.shape == "sphere":
            mask = dz * dz + dy * dy + dx * dx <= les.radius_mm ** 2
        else:
            inplane = dy * dy + dx * dx <= les.radius_mm ** 2
            along = np.abs(dz) <= (les.half_length_mm if les.half_length_mm is not None else np.inf)
            mask = inplane & along
        ci = tuple(min(max(int(round(v)), 0), n - 1) for v, n in zip(cv, (n_sl, rows, cols)))
        background = float(vol[ci])
        vol[mask] = les.hu
        owner[mask] = i
        masks.append(mask)
        pending.append({"cv": cv, "background": background})

    truths = []
    for i, les in enumerate(lesions):
        visible = owner == i
        slices = tuple(int(k) for k in np.flatnonzero(visible.any(axis=(1, 2))))
        cv = pending[i]["cv"]
        truths.append(LesionTruth(
            name=names[i], shape=les.shape, center_voxel=tuple(cv),  # type: ignore[arg-type]
            center_mm=info_stub.voxel_to_mm(cv), radius_mm=les.radius_mm,
            diameter_mm=2 * les.radius_mm, hu=les.hu, background_hu=pending[i]["background"],
            slices=slices, center_slice=min(max(int(round(cv[0])), 0), n_sl - 1),
            voxel_count=int(np.count_nonzero(visible)),
        ))

    rng = np.random.default_rng(seed)
    if noise_sd > 0:
        vol = vol + rng.normal(0.0, noise_sd, size=vol.shape)
    stored = np.clip(np.rint(vol) + _STORED_OFFSET, 0, _STORED_MAX).astype("<u2")

    study_uid = _uid(digest, "study")
    series_uid = _uid(digest, "series")
    for_uid = _uid(digest, "frame-of-reference")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(n_sl):
        ds = _slice_dataset(name=name, seed=seed, patient_id=pid, k=k, n_slices=n_sl,
                            study_uid=study_uid, series_uid=series_uid, for_uid=for_uid,
                            sop_uid=_uid(digest, "sop", k), origin=origin, spacing=sp,
                            pixels=stored[k])
        path = out / f"slice-{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return PhantomInfo(name, seed, (n_sl, rows, cols), sp, origin, body_hu, noise_sd, tuple(files),
                       study_uid, series_uid, for_uid, tuple(truths), digest, pid)


def _slice_dataset(*, name: str, seed: int, patient_id: str, k: int, n_slices: int,
                   study_uid: str, series_uid: str, for_uid: str, sop_uid: str,
                   origin: tuple[float, float, float], spacing: tuple[float, float, float],
                   pixels: NDArray[np.uint16]) -> Dataset:
    rows, cols = pixels.shape
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL", "SYNTHETIC"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20000101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "000000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "caselib"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "SYNTHETIC phantom study"
    ds.SeriesDescription = SYNTHETIC_SERIES_DESCRIPTION
    ds.PatientName = f"SYN^{name}"  # not SYNTHETIC or CASELIB: de-identification scrubs name words from all text
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = _ds(spacing[0])
    ds.KVP = ""
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "SYN"
    ds.SeriesNumber = 1
    ds.InstanceNumber = k + 1
    ds.ImagePositionPatient = [_ds(origin[0]), _ds(origin[1]), _ds(origin[2] + k * spacing[0])]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = _ds(origin[2] + k * spacing[0])
    ds.ImageComments = _IMAGE_COMMENTS.format(name=name, seed=seed)
    ds.BurnedInAnnotation = "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[2])]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = ["40", "-600"]
    ds.WindowWidth = ["400", "1500"]
    ds.WindowCenterWidthExplanation = ["SOFT TISSUE", "LUNG"]
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    return ds


def _ds(value: float) -> str:
    """A Decimal String of at most 16 characters."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if len(text) > 16:
        text = f"{value:.10g}"
    return text


# --------------------------------------------------------------------------- phantom.yaml


_SPEC_FIELDS = ("name", "seed", "shape", "spacing", "body_hu", "body_radii_mm", "noise_sd",
                "patient_id", "lesions")
#: phantom.yaml fields that tie the case to the ground truth (not make_ct_phantom arguments)
_LINK_FIELDS = ("findings", "questions")
_LESION_FIELDS = ("name", "shape", "center_voxel", "center_mm", "radius_mm", "hu",
                  "half_length_mm")


def phantom_from_dict(data: Mapping[str, Any], *, origin: str = "phantom") -> dict[str, Any]:
    """Turn a ``phantom.yaml`` mapping into keyword arguments of :func:`make_ct_phantom`.

    Raises
    ------
    ValueError
        Naming the origin and field on an unknown or missing field.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{origin}: expected a mapping, found {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - set(_SPEC_FIELDS) - set(_LINK_FIELDS))
    if unknown:
        raise ValueError(f"{origin}: unknown field(s) {unknown}; expected some of {', '.join(_SPEC_FIELDS)}")
    for key in ("name", "seed"):
        if key not in data:
            raise ValueError(f"{origin}: {key}: expected a value, found nothing (the field is missing)")
    kw: dict[str, Any] = {k: data[k] for k in _SPEC_FIELDS if k in data and k != "lesions"}
    for key in ("shape", "spacing", "body_radii_mm"):
        if key in kw:
            kw[key] = tuple(kw[key])
    lesions = []
    for i, item in enumerate(data.get("lesions", []) or []):
        if not isinstance(item, Mapping):
            raise ValueError(f"{origin}: lesions[{i}]: expected a mapping")
        bad = sorted(set(map(str, item)) - set(_LESION_FIELDS))
        if bad:
            raise ValueError(f"{origin}: lesions[{i}]: unknown field(s) {bad}; "
                             f"expected some of {', '.join(_LESION_FIELDS)}")
        li = dict(item)
        for key in ("center_voxel", "center_mm"):
            if key in li:
                li[key] = tuple(li[key])
        try:
            lesions.append(Lesion(**li))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{origin}: lesions[{i}]: {exc}") from None
    kw["lesions"] = lesions
    return kw


def load_phantom_spec(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``<folder>/phantom.yaml`` (or the file itself) into :func:`make_ct_phantom` keywords."""
    import yaml

    p = Path(folder)
    if p.is_dir():
        p = p / "phantom.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"no phantom.yaml at {p}")
    return phantom_from_dict(yaml.safe_load(p.read_text(encoding="utf-8")), origin=str(p))


def build_case_phantom(folder: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> PhantomInfo:
    """Regenerate the images of a synthetic case from its ``phantom.yaml``.

    Examples
    --------
    >>> info = build_case_phantom("cases/synthetic/phantom-nodule-size", "/tmp/p")  # doctest: +SKIP
    >>> info.series_uid                                                             # doctest: +SKIP
    """
    return make_ct_phantom(out_dir, **load_phantom_spec(folder))


def case_answer_key(folder: str | os.PathLike[str], info: PhantomInfo) -> dict[str, Any]:
    """What a synthetic case's findings and numeric questions should say, from the ground truth.

    ``phantom.yaml`` may link the case to its lesions::

        findings: [nodule-large, nodule-small]          # lesion of each finding, in order
        questions:                                      # numeric question id -> lesion, measure
          q1-large-diameter: {lesion: nodule-large, measure: diameter_mm}
          q3-large-hu: {lesion: nodule-large, measure: hu}

    Returns
    -------
    dict
        ``{"findings": [{"slice_index", "row", "col", "radius_mm"}, ...],
        "questions": {id: {"answer", "abs_tol", "unit"}}}``; diameters use
        :meth:`PhantomInfo.diameter_tolerance_mm`, HU :meth:`PhantomInfo.hu_tolerance`.
    """
    import yaml

    p = Path(folder)
    p = p / "phantom.yaml" if p.is_dir() else p
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    findings = []
    for name in data.get("findings", []) or []:
        les = info.lesion(name)
        findings.append({"slice_index": les.center_slice, "row": les.center_voxel[1],
                         "col": les.center_voxel[2], "radius_mm": les.radius_mm})
    questions: dict[str, Any] = {}
    for qid, link in (data.get("questions", {}) or {}).items():
        les = info.lesion(link["lesion"])
        measure = link["measure"]
        if measure == "diameter_mm":
            questions[qid] = {"answer": les.diameter_mm, "abs_tol": info.diameter_tolerance_mm(),
                              "unit": "mm"}
        elif measure == "hu":
            questions[qid] = {"answer": les.hu, "abs_tol": info.hu_tolerance(les.name), "unit": "HU"}
        else:
            raise ValueError(f"{p}: questions.{qid}.measure: expected diameter_mm or hu, "
                             f"found {measure!r}")
    return {"findings": findings, "questions": questions}
