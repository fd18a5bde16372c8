"""Find DICOM objects in a folder tree, a zip archive, a DICOMDIR or a list of paths.

Only headers are read (see :mod:`caselib.dicom.header`).  Nothing is ever
extracted or written: zip members are read in memory, and a member whose name
is absolute or contains ``..`` is reported and not read at all.  Files that are
not DICOM, are truncated or malformed are reported in
:attr:`DicomCollection.errors` with the reason; reading goes on.
"""
from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Union

from caselib.dicom.header import HEAD_CHUNK, scan_header
from caselib.dicom.model import (
    DicomCollection,
    DicomdirFoundError,
    Instance,
    SkippedFile,
    instance_from_scan,
)
from caselib.errors import InvalidDicomError

__all__ = ["read", "read_instance", "is_unsafe_member_name"]

PathLike = Union[str, "os.PathLike[str]"]

_DRIVE = re.compile(r"^[A-Za-z]:")


def read_instance(path: PathLike) -> Instance:
    """Read the header of one DICOM file.

    Parameters
    ----------
    path : str or os.PathLike
        A DICOM file (Part 10, or a bare data set without preamble).

    Returns
    -------
    Instance

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    caselib.errors.InvalidDicomError
        Not DICOM, truncated, or an attribute caselib needs is malformed; the
        message names the file and the tag, e.g.
        ``"…/x.dcm: expected (0028,0030) Pixel Spacing with 2 values, found 1"``.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> read_instance(get_testdata_file("MR_small.dcm")).pixel_spacing_tag == 0x00280030
    True
    """
    p = Path(path)
    if not p.is_file():
        if p.exists():
            raise IsADirectoryError(f"{p}: expected a file; use caselib.dicom.read() for folders")
        raise FileNotFoundError(f"{p}: no such file")
    scan = scan_header(path=p, label=str(p))
    return instance_from_scan(scan, p)


def is_unsafe_member_name(name: str) -> bool:
    """True for zip member names that would escape an extraction folder.

    Examples
    --------
    >>> names = ["a/b.dcm", "../evil.dcm", "/etc/x", "C:/x", "a/../../b"]
    >>> [is_unsafe_member_name(n) for n in names]
    [False, True, True, True, True]
    """
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or _DRIVE.match(normalized):
        return True
    return ".." in normalized.split("/")


class _Reader:
    def __init__(self) -> None:
        self.instances: list[Instance] = []
        self.errors: list[SkippedFile] = []

    def skip(self, source: str, reason: str) -> None:
        self.errors.append(SkippedFile(source, reason))

    # ------------------------------------------------------------------ plain files

    def add_file(self, path: Path, *, given: bool = False) -> None:
        """Read one file; `given` when the user named it (then zips and DICOMDIRs are opened)."""
        try:
            scan = scan_header(path=path, label=str(path))
            self.instances.append(instance_from_scan(scan, path))
        except DicomdirFoundError as exc:
            if given:
                self.add_dicomdir(path)
            else:
                self.skip(str(path), _reason(exc, str(path)))
        except InvalidDicomError as exc:
            if "not a DICOM file" in str(exc) and zipfile.is_zipfile(path):
                if given:
                    self.add_zip(path)
                else:
                    self.skip(str(path), "a zip archive inside the source; read it on its own "
                                         "with caselib.dicom.read(path_to_zip)")
                return
            self.skip(str(path), _reason(exc, str(path)))
        except OSError as exc:
            self.skip(str(path), f"cannot read the file: {exc.strerror or exc}")

    def add_folder(self, root: Path) -> None:
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder) / name
                if name.upper() == "DICOMDIR":
                    self.skip(str(path), "a DICOMDIR (media directory); the folder's files "
                                         "are read directly")
                    continue
                self.add_file(path)

    # ------------------------------------------------------------------ zip

    def add_zip(self, path: Path) -> None:
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            self.skip(str(path), f"cannot open the zip archive: {exc}")
            return
        with archive:
            for info in archive.infolist():
                name = info.filename
                source = f"{path}::{name}"
                if info.is_dir():
                    continue
                if is_unsafe_member_name(name):
                    self.skip(source, "unsafe member name (absolute, or with a '..' component); "
                                      "not read")
                    continue
                if info.flag_bits & 0x1:
                    self.skip(source, "encrypted zip member; not read")
                    continue
                try:
                    with archive.open(info) as member:
                        data = member.read(HEAD_CHUNK)
                    if data[:4] == b"PK\x03\x04":
                        self.skip(source, "a zip archive inside the zip; not read")
                        continue
                    scan = scan_header(data=data, label=source, total_size=info.file_size,
                                       read_rest=partial(archive.read, info))
                    self.instances.append(instance_from_scan(scan, path, member=name))
                except InvalidDicomError as exc:
                    self.skip(source, _reason(exc, source))
                except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                    self.skip(source, f"cannot read the zip member: {exc}")

    # ------------------------------------------------------------------ DICOMDIR

    def add_dicomdir(self, path: Path) -> None:
        import pydicom

        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:  # pydicom raises many kinds for damaged files
            self.skip(str(path), f"cannot parse the DICOMDIR: {exc}")
            return
        root = path.parent.resolve()
        records = ds.get("DirectoryRecordSequence") or []
        seen: set[Path] = set()
        for record in records:
            file_id = record.get("ReferencedFileID")
            if not file_id:
                continue
            parts = [file_id] if isinstance(file_id, str) else [str(p) for p in file_id]
            shown = "\\".join(parts)
            source = f"{path}::{shown}"
            if any(p in ("..", "") or "/" in p or "\\" in p for p in parts):
                self.skip(source, "unsafe (0004,1500) Referenced File ID (empty or '..' "
                                  "component, or a path separator); not read")
                continue
            target = _resolve_case_insensitive(root, parts)
            if target is None:
                self.skip(source, f"referenced by the DICOMDIR but missing under {root}")
                continue
            if target in seen:
                continue
            seen.add(target)
            self.add_file(target)


def _resolve_case_insensitive(root: Path, parts: list[str]) -> Path | None:
    """Follow a DICOMDIR file ID; media written on other systems may differ in case."""
    current = root
    for part in parts:
        candidate = current / part
        if candidate.exists():
            current = candidate
            continue
        try:
            matches = [c for c in current.iterdir() if c.name.upper() == part.upper()]
        except OSError:
            return None
        if not matches:
            return None
        current = matches[0]
    if not current.is_file():
        return None
    resolved = current.resolve()
    if root not in resolved.parents:
        return None
    return resolved


def _reason(exc: BaseException, source: str) -> str:
    """The message of `exc` without the leading ``source: `` (the record holds it)."""
    text = str(exc)
    prefix = f"{source}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _iter_sources(source: PathLike | Iterable[PathLike]) -> Iterator[Path]:
    if isinstance(source, str | os.PathLike):
        yield Path(source)
        return
    for item in source:
        yield Path(item)


def read(source: PathLike | Iterable[PathLike]) -> DicomCollection:
    """Read DICOM headers into Patient -> Study -> Series -> Instance.

    Parameters
    ----------
    source : path-like or iterable of path-likes
        A folder (searched recursively), a zip archive, a DICOMDIR file, a
        single DICOM file, or several of these.

    Returns
    -------
    DicomCollection
        Its ``errors`` list every file that was skipped, with the reason;
        pixels are read later, by :meth:`Series.volume` or :meth:`Series.frame`.

    Raises
    ------
    FileNotFoundError
        A source does not exist.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> collection = read(get_testdata_file("MR_small.dcm"))
    >>> series = collection.only_series()
    >>> series.modality, series.number_of_frames, series.orientation
    ('MR', 1, 'axial')
    >>> read(__file__).errors[0].reason
    "not a DICOM file: no 'DICM' prefix at byte 128 and no DICOM element at the start"
    """
    reader = _Reader()
    names = []
    for path in _iter_sources(source):
        names.append(str(path))
        if path.is_dir():
            reader.add_folder(path)
        elif not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        elif path.name.upper() == "DICOMDIR":
            reader.add_dicomdir(path)
        else:
            reader.add_file(path, given=True)  # a zip or a DICOMDIR is recognised and opened
    label = names[0] if len(names) == 1 else f"{len(names)} sources"
    return DicomCollection(reader.instances, reader.errors, source=label)
