"""Exception hierarchy for caselib.

Bad arguments raise the built-in ``ValueError``/``TypeError``; failures of the
domain (data that cannot be found or verified, DICOM that is not what it
should be) raise a subclass of :class:`CaselibError`.  Messages say what was
expected and what was found, and name the file and the DICOM tag where one
applies.
"""
from __future__ import annotations

__all__ = [
    "CaselibError",
    "DataError",
    "DataNotFoundError",
    "HashMismatchError",
    "ManifestError",
    "DicomError",
    "InvalidDicomError",
    "GeometryError",
    "PixelDataError",
]


class CaselibError(Exception):
    """Base class of every domain error raised by caselib."""


class DataError(CaselibError):
    """A data file named in the manifest could not be provided."""


class ManifestError(DataError):
    """``data_manifest.yaml`` is malformed or names an unknown key."""


class DataNotFoundError(DataError):
    """No source could provide a manifest key; the message lists every place tried."""


class HashMismatchError(DataError):
    """A file's sha256 differs from the manifest."""


class DicomError(CaselibError):
    """A DICOM object is unreadable or inconsistent."""


class InvalidDicomError(DicomError):
    """A file is not DICOM, is truncated, or lacks a required attribute."""


class GeometryError(DicomError):
    """Slice geometry is missing or inconsistent (orientation, position, spacing)."""


class PixelDataError(DicomError):
    """Pixel data cannot be decoded or does not match its description."""
