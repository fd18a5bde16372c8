"""DICOM files -> Patient / Study / Series / Instance, geometry and volumes.

Headers are read when a source is opened; pixels only when asked for.

Examples
--------
>>> from pydicom.data import get_testdata_file
>>> from caselib.dicom import read, format_summary
>>> collection = read(get_testdata_file("CT_small.dcm"))
>>> ct = collection.only_series()
>>> ct.modality, ct.volume().shape, ct.volume().dtype
('CT', (1, 128, 128), dtype('float32'))
>>> collection.errors
[]
"""
from __future__ import annotations

from caselib.dicom.geometry import SeriesGeometry, classify_orientation
from caselib.dicom.model import (
    DicomCollection,
    Frame,
    Instance,
    Patient,
    Series,
    SkippedFile,
    Study,
)
from caselib.dicom.reader import is_unsafe_member_name, read, read_instance
from caselib.dicom.summary import describe_series, format_summary

__all__ = [
    "read",
    "read_instance",
    "format_summary",
    "describe_series",
    "DicomCollection",
    "Patient",
    "Study",
    "Series",
    "Instance",
    "Frame",
    "SeriesGeometry",
    "SkippedFile",
    "classify_orientation",
    "is_unsafe_member_name",
]
