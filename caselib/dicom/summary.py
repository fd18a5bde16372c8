"""The text ``caselib info PATH`` prints: what was found, and what was skipped."""
from __future__ import annotations

from caselib.dicom.model import DicomCollection, Series

__all__ = ["format_summary", "describe_series"]


def _date(value: str) -> str:
    """``"20240131"`` -> ``"2024-01-31"``; anything else unchanged."""
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or "no date"


def describe_series(series: Series) -> str:
    """One line: number, modality, description, frames, size, plane, spacing.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from caselib.dicom import read
    >>> describe_series(read(get_testdata_file("CT_small.dcm")).only_series())
    'series 1  CT  1 frame 128x128  axial slice  pixel 0.66x0.66 mm  thickness 5.00 mm'
    """
    number = series.series_number if series.series_number is not None else "(no number)"
    parts = [f"series {number}", series.modality or "(no modality)"]
    if series.description:
        parts.append(repr(series.description))
    if not series.has_pixel_data:
        parts.append(f"{len(series.instances)} object(s) without pixel data "
                     f"({series.first.sop_class_name})")
        return "  ".join(parts)
    n = series.number_of_frames
    parts.append(f"{n} frame{'s' if n != 1 else ''} {series.rows}x{series.columns}")
    geometry = series.geometry
    plane = geometry.orientation or ""
    parts.append(f"{plane} {geometry.kind}".strip())
    if series.photometric not in ("MONOCHROME2", ""):
        parts.append(series.photometric)
    if series.pixel_spacing is not None:
        r, c = series.pixel_spacing
        parts.append(f"pixel {r:.2f}x{c:.2f} mm")
    if geometry.kind == "volume" and geometry.slice_spacing is not None:
        parts.append(f"spacing {geometry.slice_spacing:.2f} mm")
    elif series.slice_thickness is not None:
        parts.append(f"thickness {series.slice_thickness:.2f} mm")
    return "  ".join(parts)


def format_summary(collection: DicomCollection, *, max_skipped: int = 50) -> str:
    """The human-readable summary of a :class:`DicomCollection`.

    Lists patients, their studies and series (modality, frame count, plane,
    spacing), each series' geometry warnings, and the skipped files with the
    reason.

    Parameters
    ----------
    collection : DicomCollection
    max_skipped : int
        At most this many skipped files are listed; the rest are counted.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from caselib.dicom import read
    >>> print(format_summary(read(get_testdata_file("CT_small.dcm"))))   # doctest: +ELLIPSIS
    1 patient, 1 study, 1 series, 1 instance from .../CT_small.dcm
    patient 1CT1  CompressedSamples^CT1  O
      study 2004-01-19  e+1
        series 1  CT  1 frame 128x128  axial slice  pixel 0.66x0.66 mm  thickness 5.00 mm
    """
    c = collection

    def count(n: int, word: str, plural: str | None = None) -> str:
        return f"{n} {word if n == 1 else (plural or word + 's')}"

    lines = [
        f"{count(len(c.patients), 'patient')}, {count(len(c.studies), 'study', 'studies')}, "
        f"{count(len(c.series), 'series', 'series')}, {count(len(c.instances), 'instance')}"
        f" from {c.source}"
        + (f"; {count(len(c.errors), 'file')} skipped" if c.errors else "")
    ]
    for patient in c.patients:
        who = patient.patient_id or "(no Patient ID)"
        extra = "  ".join(x for x in (patient.name, patient.sex, patient.birth_date) if x)
        lines.append(f"patient {who}" + (f"  {extra}" if extra else ""))
        for study in patient.studies:
            what = "  ".join(x for x in (_date(study.date), study.description) if x)
            lines.append(f"  study {what}")
            for series in study.series:
                lines.append(f"    {describe_series(series)}")
                for warning in series.geometry.warnings:
                    lines.append(f"      ! {warning}")
    if c.errors:
        lines.append(f"skipped {count(len(c.errors), 'file')}:")
        for err in c.errors[:max_skipped]:
            lines.append(f"  {err.source}: {err.reason}")
        if len(c.errors) > max_skipped:
            lines.append(f"  ... and {len(c.errors) - max_skipped} more")
    return "\n".join(lines)
