"""How fast does caselib turn a folder of slices into a float volume?

Three loaders, each from a list of file paths (or their folder) to a float
volume in patient order, header reading and sorting included:

* caselib: ``read(paths).only_series().volume()`` (float32);
* naive: the loop most tutorials write: ``pydicom.dcmread`` every file fully,
  sort by Image Position along the slice normal, stack
  ``pixel_array * slope + intercept`` (float64);
* SimpleITK: ``ImageSeriesReader`` with ``GetGDCMSeriesFileNames``,
  ``Execute`` and ``GetArrayFromImage``, output type float32.

Data sets: the 30-slice chest CT (``tcia-lung-ct``) and the 192-slice brain MR
(``pediatric-brain-mr``), located with :func:`caselib.data.fetch_dataset`.
One untimed warm-up round fills the page cache for all three; then each round
runs the three loaders in a rotating order so that none is favoured by what
ran just before.  Medians are reported.  caselib's volume is checked to be
bit-identical to the naive loop's (float64 rounded to float32, and exactly
equal for these integer-valued data).

The last line printed is one JSON object with the figures.

Usage::

    python bench/load_series.py [--repeats 9]
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from caselib.data import fetch_dataset
from caselib.dicom import read

DATASETS = {"ct": "tcia-lung-ct", "mr": "pediatric-brain-mr"}


def load_caselib(paths: list[Path]) -> np.ndarray:
    """caselib: headers (one pass, no pixels), sort, then pixels straight into float32."""
    return read(paths).only_series().volume()


def load_naive(paths: list[Path]) -> np.ndarray:
    """The tutorial loop: read every file fully, sort along the normal, rescale in float64."""
    datasets = [pydicom.dcmread(p) for p in paths]
    iop = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    datasets.sort(key=lambda d: float(normal @ np.array(d.ImagePositionPatient, dtype=float)))
    return np.stack([d.pixel_array * float(d.get("RescaleSlope", 1))
                     + float(d.get("RescaleIntercept", 0)) for d in datasets])


def load_sitk(folder: Path) -> np.ndarray:
    """SimpleITK/GDCM: scan the folder for the series, read it as float32."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reader.SetOutputPixelType(sitk.sitkFloat32)
    return sitk.GetArrayFromImage(reader.Execute())


def time_once(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_dataset(name: str, repeats: int) -> dict[str, float]:
    folder = fetch_dataset(name, progress=False)
    paths = sorted(folder.glob("*.dcm"))
    loaders: dict[str, Callable[[], np.ndarray]] = {
        "caselib": lambda: load_caselib(paths),
        "naive": lambda: load_naive(paths),
        "sitk": lambda: load_sitk(folder),
    }
    results = {label: fn() for label, fn in loaders.items()}  # warm-up, untimed
    ours, naive, itk = results["caselib"], results["naive"], results["sitk"]
    assert ours.dtype == np.float32 and ours.shape == naive.shape == itk.shape, (
        ours.shape, naive.shape, itk.shape)
    assert np.array_equal(ours, naive.astype(np.float32)), "caselib differs from the naive loop"
    assert np.array_equal(ours.astype(np.float64), naive), "caselib differs from the naive loop"
    same_as_sitk = bool(np.array_equal(ours, itk))

    times: dict[str, list[float]] = {label: [] for label in loaders}
    order = list(loaders)
    for r in range(repeats):
        rotated = order[r % len(order):] + order[:r % len(order)]
        for label in rotated:
            elapsed, _ = time_once(loaders[label])
            times[label].append(elapsed)
    medians = {label: statistics.median(t) for label, t in times.items()}
    print(f"{name}: {len(paths)} files -> {ours.shape} float32, "
          f"bit-identical to naive: yes, equal to SimpleITK: {'yes' if same_as_sitk else 'no'}")
    for label in loaders:
        t = sorted(times[label])
        print(f"  {label:8s} median {medians[label] * 1000:7.1f} ms   "
              f"(min {t[0] * 1000:6.1f}, max {t[-1] * 1000:6.1f}, n={len(t)})")
    ratio = medians["caselib"] / medians["sitk"]
    speedup = medians["naive"] / medians["caselib"]
    print(f"  caselib / SimpleITK = {ratio:.2f} (goal <= 1.2);  "
          f"naive / caselib = {speedup:.2f} (goal >= 2)")
    return {
        "caselib_s": medians["caselib"],
        "naive_s": medians["naive"],
        "sitk_s": medians["sitk"],
        "ratio_vs_sitk": ratio,
        "speedup_vs_naive": speedup,
        "equal_to_sitk": same_as_sitk,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds (default 9)")
    args = parser.parse_args(argv)
    figures: dict[str, object] = {"repeats": args.repeats}
    for short, name in DATASETS.items():
        for key, value in bench_dataset(name, args.repeats).items():
            figures[f"{short}_{key}"] = round(value, 5) if isinstance(value, float) else value
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
