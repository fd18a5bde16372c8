"""Find a series in an archive made by ``caselib ingest`` (paths from ArchiveLayout only)."""
from __future__ import annotations

import os
from typing import Any

__all__ = ["open_archive_series"]


def open_archive_series(archive: str | os.PathLike[str], series_uid: str) -> Any:
    """Read series ``series_uid`` of ``archive`` (``objects/<Study>/<Series>/``).

    Raises
    ------
    FileNotFoundError
        If the archive has no ``objects/`` folder or no such series; the
        message names the archive and, for a missing series, a few it has.
    """
    from caselib.archive import ArchiveLayout
    from caselib.dicom import read

    layout = ArchiveLayout.at(archive)
    if not layout.objects.is_dir():
        raise FileNotFoundError(f"{layout.root}: not a caselib archive (expected the folder "
                                f"{layout.objects}, found none); build one with `caselib ingest`")
    if not isinstance(series_uid, str) or not series_uid or "/" in series_uid or series_uid.startswith("."):
        raise ValueError(f"series_uid must be a Series Instance UID, got {series_uid!r}")
    folders = [p for p in layout.objects.glob(f"*/{series_uid}") if p.is_dir()]
    if not folders:
        known = sorted({p.name for p in layout.objects.glob("*/*") if p.is_dir()})
        listing = ", ".join(known[:5]) + (" ..." if len(known) > 5 else "")
        raise FileNotFoundError(f"{layout.root}: no series {series_uid!r} in the archive; "
                                f"it has {len(known)} series: {listing or 'none'}")
    collection = read(folders[0])
    return collection.series_by_uid(series_uid)
