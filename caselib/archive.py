"""Where everything of one archive lives: the only place that builds archive paths.

::

    ARCHIVE/
      objects/<Study>/<Series>/<SOP>.dcm    de-identified, losslessly compressed (caselib.store)
      store.toml                             only when the objects live on a DICOMweb server instead
      catalog.sqlite                         the catalog (caselib.catalog)
      private/                               never published, bundled or shown to students
        secret.key                           HMAC secret of the UID remap and pseudonyms (0600)
        pseudonyms.sqlite                    patient pseudonym registry
        journal.sqlite                       which source objects were already handled
        quarantine/<id>/                     refused inputs with their reasons
        reports/ingest-<time>.json           ingest reports (source labels may name patients)

Keep ``private/`` out of anything you share: ``caselib`` never copies it.

Where the objects live
----------------------
By default in ``objects/`` (:class:`caselib.store.LocalStore`).  An archive can
keep its objects on a DICOMweb server instead (Orthanc, dcm4chee:
:class:`caselib.store.dicomweb.DicomwebStore`); the catalog and ``private/``
stay in the folder.  ``store.toml`` records which server, copied from a node
of the PACS configuration by :func:`record_store` (``caselib ingest SRC
--archive DIR --store NODE``)::

    # ARCHIVE/store.toml
    kind = "dicomweb"
    node = "teaching"                 # the PACS configuration's node name (for messages)
    dicomweb_url = "http://127.0.0.1:8042/dicom-web"
    username_env = "TEACHING_PACS_USER"        # names of environment variables,
    password_env = "TEACHING_PACS_PASSWORD"    # never the credentials themselves
    timeout = 30.0
    connect_timeout = 5.0
    retries = 3
    backoff = 0.5
    verify_tls = true
    orthanc_api = false               # true: Orthanc's REST API for deletes and byte counts

The file holds no secret, so the archive folder (catalog, cases) can be handed
to whoever has the credentials in their environment.  :func:`open_store` is
the one function that opens an archive's store: ingest, ``verify_archive``,
the PACS pull and push, case bundles and the viewer all go through it.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caselib.store import Store

__all__ = ["STORE_FILE", "ArchiveLayout", "StoreSettings", "iter_archive_keys", "open_store", "read_store_settings",
           "record_store"]

STORE_FILE = "store.toml"


@dataclass(frozen=True)
class ArchiveLayout:
    """Paths of an archive rooted at ``root``."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> ArchiveLayout:
        return cls(Path(root))

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def store_file(self) -> Path:
        """``store.toml``: where the objects live when not in ``objects/`` (see :func:`open_store`)."""
        return self.root / STORE_FILE

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.sqlite"

    @property
    def private(self) -> Path:
        return self.root / "private"

    @property
    def secret(self) -> Path:
        return self.private / "secret.key"

    @property
    def pseudonyms(self) -> Path:
        return self.private / "pseudonyms.sqlite"

    @property
    def journal(self) -> Path:
        return self.private / "journal.sqlite"

    @property
    def quarantine(self) -> Path:
        return self.private / "quarantine"

    @property
    def reports(self) -> Path:
        return self.private / "reports"

    def create(self, *, objects: bool | None = None) -> ArchiveLayout:
        """Make the folders; ``private/`` is readable by the owner only.

        ``objects/`` is made when ``objects`` is true; by default (``None``) only
        for an archive whose objects live in it (no ``store.toml``).
        """
        if objects if objects is not None else not self.store_file.is_file():
            self.objects.mkdir(parents=True, exist_ok=True)
        else:
            self.root.mkdir(parents=True, exist_ok=True)
        self.private.mkdir(parents=True, exist_ok=True)
        os.chmod(self.private, 0o700)
        self.quarantine.mkdir(exist_ok=True)
        self.reports.mkdir(exist_ok=True)
        return self


# --------------------------------------------------------------------------- where the objects live

_ENDPOINT_KEYS = ("dicomweb_url", "username_env", "password_env", "timeout", "connect_timeout", "retries",
                  "backoff", "verify_tls")
_KEYS = ("kind", "node", "orthanc_api", *_ENDPOINT_KEYS)


@dataclass(frozen=True)
class StoreSettings:
    """What ``ARCHIVE/store.toml`` says (``kind='local'`` when there is no such file)."""

    kind: str = "local"                       # "local" | "dicomweb"
    node: str | None = None                   # the name of the server, for messages
    endpoint: Mapping[str, Any] | None = None  # dicomweb_url, username_env, ... (no secret)
    orthanc_api: bool = False
    origin: str = ""

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    def describe(self) -> str:
        if self.is_local:
            return "objects/ (local folder)"
        url = (self.endpoint or {}).get("dicomweb_url", "?")
        return f"DICOMweb node {self.node!r} ({url})"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if not re.fullmatch(r"[^\x00-\x1f\"\\]*", text):
        raise ValueError(f"cannot record {text!r} in {STORE_FILE}: control characters, quotes or backslashes")
    return f'"{text}"'


def read_store_settings(archive: str | os.PathLike[str]) -> StoreSettings:
    """Read ``ARCHIVE/store.toml``; local objects when it is absent.

    Raises
    ------
    caselib.store.errors.PacsConfigError
        The file is malformed; the message names the file and the setting.
    """
    import tomllib

    from caselib.store.errors import PacsConfigError

    layout = ArchiveLayout.at(archive)
    path = layout.store_file
    if not path.is_file():
        return StoreSettings(origin=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PacsConfigError(f"{path}: cannot read the archive's store settings: {exc}") from exc
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise PacsConfigError(f"{path}: unknown setting(s) {unknown}; expected some of {', '.join(_KEYS)}")
    kind = data.get("kind", "local")
    if kind == "local":
        return StoreSettings(origin=str(path))
    if kind != "dicomweb":
        raise PacsConfigError(f"{path}: kind: expected 'local' or 'dicomweb', found {kind!r}")
    if not data.get("dicomweb_url"):
        raise PacsConfigError(f"{path}: kind = 'dicomweb' needs dicomweb_url, found none")
    node = str(data.get("node") or data["dicomweb_url"])
    endpoint = {k: data[k] for k in _ENDPOINT_KEYS if k in data}
    return StoreSettings("dicomweb", node, endpoint, bool(data.get("orthanc_api", False)), str(path))


def record_store(archive: str | os.PathLike[str], node: Any, *, orthanc_api: bool = False) -> StoreSettings:
    """Make ``archive`` keep its objects on the DICOMweb server ``node`` (writes ``ARCHIVE/store.toml``).

    ``node`` is a :class:`caselib.pacs.PacsNode` (or any object with its
    DICOMweb attributes); its non-secret settings are copied, so opening the
    archive later needs only the credentials in the environment.  Recording the
    same node again is a no-op.

    Raises
    ------
    caselib.store.errors.PacsConfigError
        The node has no ``dicomweb_url``; the archive already keeps objects in
        ``objects/``; or it already records another server.
    """
    from caselib.store.errors import PacsConfigError

    layout = ArchiveLayout.at(archive)
    url = node.require_dicomweb() if hasattr(node, "require_dicomweb") else getattr(node, "dicomweb_url", None)
    if not url:
        raise PacsConfigError(f"node {getattr(node, 'name', node)!r} has no dicomweb_url: an archive can live "
                              "only on a DICOMweb server")
    endpoint = {k: getattr(node, k) for k in _ENDPOINT_KEYS if getattr(node, k, None) is not None}
    endpoint["dicomweb_url"] = str(url).rstrip("/")
    wanted = StoreSettings("dicomweb", str(node.name), endpoint, bool(orthanc_api), str(layout.store_file))
    current = read_store_settings(layout.root)
    if not current.is_local:
        if (current.node, dict(current.endpoint or {}), current.orthanc_api) == (
                wanted.node, dict(wanted.endpoint or {}), wanted.orthanc_api):
            return current
        raise PacsConfigError(f"{layout.root} already keeps its objects on {current.describe()} "
                              f"({layout.store_file}); it cannot move to {wanted.describe()}: start a new archive")
    if layout.objects.is_dir() and any(layout.objects.iterdir()):
        raise PacsConfigError(f"{layout.root} already keeps objects in {layout.objects}; it cannot move to "
                              f"{wanted.describe()}: start a new archive (or push this one: caselib pacs push)")
    layout.root.mkdir(parents=True, exist_ok=True)
    if layout.objects.is_dir():
        layout.objects.rmdir()  # empty (checked above): no local objects folder beside a remote store
    lines = ["# where the objects of this archive live (caselib.archive); no secret here: the login is read",
             "# from the environment variables named below",
             "kind = \"dicomweb\"", f"node = {_toml_value(node.name)}"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in endpoint.items()]
    lines.append(f"orthanc_api = {_toml_value(bool(orthanc_api))}")
    tmp = layout.store_file.with_name(f".{STORE_FILE}.partial")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, layout.store_file)
    return read_store_settings(layout.root)


def open_store(archive: str | os.PathLike[str], *, compression: str | None = None, check: bool = False,
               environ: Mapping[str, str] | None = None) -> Store:
    """Open the store that holds the objects of ``archive``: the one place that decides it.

    Parameters
    ----------
    archive : path-like
        The archive folder.
    compression : str, optional
        Lossless option of new objects (``'jpeg-ls'`` when not given).
    check : bool
        For a DICOMweb store, make one authenticated request now, so a server
        that is down or refuses the login is reported before any work starts.
    environ : mapping, optional
        Where to read the credentials (default ``os.environ``).

    Returns
    -------
    Store
        :class:`caselib.store.LocalStore` on ``ARCHIVE`` when there is no
        ``store.toml``, else :class:`caselib.store.dicomweb.DicomwebStore`.

    Raises
    ------
    caselib.store.errors.PacsError
        With ``check=True``: the server does not answer or refuses the login
        (the message names the node and its URL); or a credential variable
        named in ``store.toml`` is not set.
    """
    settings = read_store_settings(archive)
    options: dict[str, Any] = {} if compression is None else {"compression": compression}
    if settings.is_local:
        from caselib.store import LocalStore

        return LocalStore(archive, **options)
    from caselib.store._http import DicomwebEndpoint
    from caselib.store.dicomweb import DicomwebStore
    from caselib.store.errors import PacsConfigError

    try:
        endpoint = DicomwebEndpoint(str(settings.node), **dict(settings.endpoint or {}))
    except TypeError as exc:
        raise PacsConfigError(f"{settings.origin}: {exc}") from exc
    store = DicomwebStore.from_node(endpoint, environ=dict(environ) if environ is not None else None,
                                    orthanc_api=settings.orthanc_api, **options)
    if check:
        try:
            store.check()
        except BaseException:
            store.close()
            raise
    return store


def iter_archive_keys(archive: str | os.PathLike[str], store: Store | None = None) -> list[Any]:
    """The :class:`~caselib.store.InstanceKey` of every object that belongs to ``archive``, sorted.

    A local folder holds only this archive's objects, so its listing is used
    (objects without a catalog row included, as ``verify`` must see them).  A
    DICOMweb server may hold other archives and anything else sent to it, so
    there the archive is what its catalog lists.
    """
    from caselib.store import InstanceKey, LocalStore

    if store is None:
        store = open_store(archive)
    if isinstance(store, LocalStore):
        return list(store.iter_instances())
    layout = ArchiveLayout.at(archive)
    if not layout.catalog.is_file():
        return []
    from caselib.catalog import Catalog

    with Catalog.open(layout.root, readonly=True) as cat:
        rows = cat.connection.execute(
            "SELECT t.study_uid, s.series_uid, i.sop_uid FROM instances i "
            "JOIN series s ON s.series_pk = i.series_pk JOIN studies t ON t.study_pk = s.study_pk").fetchall()
    return sorted(InstanceKey(*map(str, r)) for r in rows)
