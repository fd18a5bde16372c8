"""Find a series in an archive made by ``caselib ingest`` (its store from :func:`caselib.archive.open_store`)."""
from __future__ import annotations

import os
from typing import Any

__all__ = ["open_archive_series"]


def open_archive_series(archive: str | os.PathLike[str], series_uid: str) -> Any:
    """Read series ``series_uid`` of ``archive``.

    A local archive is read in place (``objects/<Study>/<Series>/``).  When the
    archive lives on a DICOMweb server (``ARCHIVE/store.toml``), the series'
    objects are fetched from the server (one WADO-RS request) into a private
    temporary folder that is removed when the returned series is garbage
    collected; the pixels shown are the server's.

    Raises
    ------
    FileNotFoundError
        If the archive has no ``objects/`` folder (and no ``store.toml``) or no
        such series; the message names the archive and, for a missing series,
        a few it has.
    caselib.store.errors.PacsError
        The archive's DICOMweb server does not answer or refuses the login (the
        message names the node).
    """
    from caselib.archive import ArchiveLayout, read_store_settings
    from caselib.dicom import read

    layout = ArchiveLayout.at(archive)
    if not isinstance(series_uid, str) or not series_uid or "/" in series_uid or series_uid.startswith("."):
        raise ValueError(f"series_uid must be a Series Instance UID, got {series_uid!r}")
    if not read_store_settings(layout.root).is_local:
        return _open_remote_series(layout, series_uid)
    if not layout.objects.is_dir():
        raise FileNotFoundError(f"{layout.root}: not a caselib archive (expected the folder "
                                f"{layout.objects}, found none); build one with `caselib ingest`")
    folders = [p for p in layout.objects.glob(f"*/{series_uid}") if p.is_dir()]
    if not folders:
        known = sorted({p.name for p in layout.objects.glob("*/*") if p.is_dir()})
        raise FileNotFoundError(_missing(layout.root, series_uid, known))
    collection = read(folders[0])
    return collection.series_by_uid(series_uid)


def _missing(root: Any, series_uid: str, known: list[str]) -> str:
    listing = ", ".join(known[:5]) + (" ..." if len(known) > 5 else "")
    return (f"{root}: no series {series_uid!r} in the archive; "
            f"it has {len(known)} series: {listing or 'none'}")


def _open_remote_series(layout: Any, series_uid: str) -> Any:
    import shutil
    import tempfile
    import weakref

    from caselib.archive import open_store
    from caselib.catalog import Catalog
    from caselib.dicom import read
    from caselib.store import copy_series_to

    if not layout.catalog.is_file():
        raise FileNotFoundError(f"{layout.root}: not a caselib archive (no catalog {layout.catalog}); "
                                "build one with `caselib ingest`")
    with Catalog.open(layout.root, readonly=True) as cat:
        rows = cat.connection.execute(
            "SELECT s.series_uid, t.study_uid FROM series s JOIN studies t ON t.study_pk = s.study_pk").fetchall()
    studies = {r[0]: r[1] for r in rows}
    if series_uid not in studies:
        raise FileNotFoundError(_missing(layout.root, series_uid, sorted(studies)))
    store = open_store(layout.root)
    folder = tempfile.mkdtemp(prefix="caselib-view-")
    try:
        copy_series_to(store, studies[series_uid], series_uid, folder)
        series = read(folder).series_by_uid(series_uid)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    weakref.finalize(series, shutil.rmtree, folder, True)
    return series
