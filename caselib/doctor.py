"""Check that this machine can run the lessons: packages, codecs, data, archive.

Used by ``notebooks/00_setup.ipynb`` and ``caselib doctor``.  Every check says
what it found and, when it fails, what to do about it.

>>> from caselib.doctor import run_checks
>>> checks = run_checks(fetch_data=False)         # doctest: +SKIP
>>> all(c.ok for c in checks)                      # doctest: +SKIP
True
"""
from __future__ import annotations

import importlib
import importlib.metadata
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Check", "run_checks", "format_checks"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""


# (import name, distribution name, why it is needed)
_PACKAGES = (
    ("numpy", "numpy", "pixel arrays"),
    ("pydicom", "pydicom", "reading DICOM"),
    ("yaml", "PyYAML", "the data manifest"),
    ("ipywidgets", "ipywidgets", "interactive lessons"),
    ("matplotlib", "matplotlib", "static images and plots"),
)

# Compressed transfer syntaxes found in the teaching data, and the permissive
# decoders installed with caselib.
_CODECS = (
    ("1.2.840.10008.1.2.4.70", "JPEG Lossless SV1"),
    ("1.2.840.10008.1.2.4.50", "JPEG Baseline"),
    ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"),
    ("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless"),
    ("1.2.840.10008.1.2.4.91", "JPEG 2000"),
    ("1.2.840.10008.1.2.5", "RLE Lossless"),
)


def _check_python() -> Check:
    v = sys.version_info
    return Check("Python", v >= (3, 11), f"{v.major}.{v.minor}.{v.micro}",
                 "install Python 3.11 or newer")


def _check_package(module: str, dist: str, why: str) -> Check:
    try:
        importlib.import_module(module)
        version = importlib.metadata.version(dist)
        return Check(f"{dist} ({why})", True, version)
    except Exception as exc:  # noqa: BLE001 - any import failure is reported
        return Check(f"{dist} ({why})", False, f"{type(exc).__name__}: {exc}",
                     "pip install -e '.[all]' in the caselib folder (or `make demo`)")


def _check_codec(uid: str, label: str) -> Check:
    from pydicom.pixels import get_decoder

    decoder = get_decoder(uid)
    plugins = ", ".join(decoder.available_plugins) or "none"
    return Check(f"decoder: {label}", decoder.is_available, plugins,
                 "pip install python-gdcm pylibjpeg pylibjpeg-openjpeg pylibjpeg-rle pyjpegls")


def _check_data(fetch_data: bool) -> Check:
    from caselib.data import cache_dir, fetch_many, load_manifest
    from caselib.errors import CaselibError

    manifest = load_manifest()
    demo = manifest.select(demo=True)
    if not fetch_data:
        cached = sum((cache_dir() / e.key).is_file() for e in demo)
        return Check("demo data in the cache", cached == len(demo), f"{cached} of {len(demo)} files",
                     "run `caselib fetch --demo` (or `make demo`)")
    try:
        fetch_many([e.key for e in demo], manifest=manifest)
    except CaselibError as exc:
        first = str(exc).splitlines()[0]
        return Check("demo data", False, first, "run `caselib fetch --demo` in a terminal to see every place tried")
    return Check("demo data", True, f"{len(demo)} files verified by sha256 in {cache_dir()}")


def _check_archive(archive: str | Path | None) -> Check:
    from caselib.archive import ArchiveLayout
    from caselib.catalog import Catalog
    from caselib.demo import default_archive
    from caselib.errors import CaselibError

    layout = ArchiveLayout.at(archive if archive is not None else default_archive())
    fix = "run `make demo` (or `caselib demo build`)"
    if not layout.catalog.is_file():
        return Check("demo archive", False, f"no catalog at {layout.catalog}", fix)
    try:
        with Catalog.open(layout.root, readonly=True) as catalog:
            summary = catalog.summary()
    except CaselibError as exc:
        return Check("demo archive", False, str(exc), fix)
    n_series = summary.n_series
    return Check("demo archive", n_series > 0, f"{n_series} series in {layout.root.resolve()}", fix)


def run_checks(*, fetch_data: bool = True, archive: str | Path | None = None) -> list[Check]:
    """Run every check; never raises for a failed check."""
    checks = [_check_python()]
    checks += [_check_package(*p) for p in _PACKAGES]
    checks += [_check_codec(*c) for c in _CODECS]
    checks.append(_check_data(fetch_data))
    checks.append(_check_archive(archive))
    return checks


def format_checks(checks: list[Check]) -> str:
    """A plain-text table: one line per check, then what to do for each failure."""
    width = max(len(c.name) for c in checks)
    lines = [f"{'OK ' if c.ok else 'FAIL'} {c.name:<{width}}  {c.found}" for c in checks]
    fixes = [f"- {c.name}: {c.fix}" for c in checks if not c.ok and c.fix]
    if fixes:
        lines += ["", "To fix:"] + fixes
    else:
        lines += ["", "Everything is ready."]
    return "\n".join(lines)
