"""Shared helpers for the ``tests/test_dicom_*.py`` modules.

Real data comes by manifest key through :mod:`caselib.data` (never from a
hard-coded folder); synthetic objects are built in memory with pydicom and
written to ``tmp_path``.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from caselib.data import fetch, fetch_dataset, load_manifest
from caselib.errors import DataError

__all__ = [
    "fetch_or_skip",
    "fetch_dataset_or_skip",
    "manifest_keys",
    "make_slice",
    "write_dataset",
    "write_series",
]


def fetch_or_skip(key: str) -> Path:
    """A verified local copy of manifest `key`, or skip the test if none can be had."""
    try:
        return fetch(key)
    except DataError as exc:
        pytest.skip(f"test data {key!r} is not available here: {exc}")


def fetch_dataset_or_skip(name: str) -> Path:
    """The folder holding every file of data set `name`, or skip the test."""
    try:
        return fetch_dataset(name, progress=False)
    except DataError as exc:
        pytest.skip(f"test data set {name!r} is not available here: {str(exc)[:300]}")


def manifest_keys(*names: str) -> list[str]:
    """The file keys of the named data sets, from the manifest (nothing is fetched)."""
    manifest = load_manifest()
    return [f.key for name in names for f in manifest.datasets[name].files]


_counter = itertools.count(1)


def make_slice(
    z: float | None = 0.0,
    *,
    instance_number: int | None = None,
    rows: int = 6,
    columns: int = 5,
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
    study_uid: str = "1.2.826.0.1.3680043.8.498.2",
    patient_id: str = "SYNTH-1",
    orientation: Sequence[float] | None = (1, 0, 0, 0, 1, 0),
    pixel_spacing: Sequence[float] | None = (0.5, 0.75),
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    pixels: np.ndarray | None = None,
    modality: str = "CT",
    photometric: str = "MONOCHROME2",
) -> Dataset:
    """A small CT-like slice held in memory.

    The stored values default to ``1000 + 10 * z`` everywhere (so a slice can be
    recognised after sorting) with a small gradient; ``z`` ``None`` leaves out
    (0020,0032) Image Position (Patient).
    """
    n = next(_counter)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = patient_id
    ds.PatientName = "Synthetic^Phantom"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyDate = "20240131"
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number if instance_number is not None else n
    if z is not None:
        ds.ImagePositionPatient = [-10.0, -20.0, float(z)]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    if pixel_spacing is not None:
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
    ds.SliceThickness = 1.0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    if pixels is None:
        base = 1000 + 10 * (z if z is not None else ds.InstanceNumber)
        pixels = (np.full((rows, columns), base) + np.arange(columns)).astype(np.int16)
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<i2").tobytes()
    return ds


def write_dataset(ds: Dataset, path: Path) -> Path:
    """Write `ds` as a DICOM Part 10 file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(folder: Path, datasets: Sequence[Dataset], names: Sequence[str] | None = None
                 ) -> list[Path]:
    """Write several data sets into `folder` (file names default to ``slice_NN.dcm``)."""
    names = names or [f"slice_{i:02d}.dcm" for i in range(len(datasets))]
    return [write_dataset(ds, folder / name) for ds, name in zip(datasets, names, strict=True)]
