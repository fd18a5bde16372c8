"""The HTTP connection to a DICOMweb server (PS3.18), shared by the archive back end and :mod:`caselib.pacs`.

It lives here, at the bottom of the chain, because the archive itself can live
on a DICOMweb server (:class:`caselib.store.dicomweb.DicomwebStore`);
:mod:`caselib.pacs` builds its study queries, pulls and pushes on top of it.

:class:`DicomwebConnection` adds what a teaching archive needs around
``dicomweb-client``: credentials read from the environment when the connection
is made, on a ``requests`` session (HTTP basic auth, never in the URL or in
request headers that the client logs), connect and read timeouts, retries with
exponential backoff for transient failures only (:func:`call_with_retries`),
and errors that name the node and say what failed without ever showing a
password (:func:`redact`).

A server is described by any object with the attributes of
:class:`DicomwebEndpoint` (``name``, ``dicomweb_url``, ``username_env``,
``password_env``, timeouts, retries, ``verify_tls``, ``credentials()``,
``require_dicomweb()``, ``retry_policy``): a :class:`DicomwebEndpoint`
(what ``ARCHIVE/store.toml`` records) or a :class:`caselib.pacs.PacsNode`.

Examples
--------
>>> [RetryPolicy(attempts=4, backoff=0.5, max_wait=1.5).wait(i) for i in (1, 2, 3)]
[0.5, 1.0, 1.5]
>>> DicomwebEndpoint("teaching", "http://127.0.0.1:8042/dicom-web").credentials({}) is None
True
>>> redact("GET http://u:pw123@host failed", ["pw123"])
'GET http://u:***@host failed'
"""
from __future__ import annotations

import base64
import io
import logging
import os
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from caselib.store.errors import (
    PacsAuthError,
    PacsConfigError,
    PacsConnectionError,
    PacsError,
    PacsNotFoundError,
)

__all__ = ["Credentials", "DicomwebConnection", "DicomwebEndpoint", "DicomwebNode", "RetryPolicy", "StowResult",
           "call_with_retries", "read_credentials", "redact"]

T = TypeVar("T")
log = logging.getLogger("caselib.pacs")  # the name operators already filter on
#: WADO-RS media type asking for the objects in the transfer syntax the server keeps (no transcoding)
_AS_STORED = (("application/dicom", "*"),)


# --------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try again and how long to wait: ``backoff * 2**(attempt-1)``, capped.

    Examples
    --------
    >>> [RetryPolicy(attempts=4, backoff=0.5, max_wait=1.5).wait(i) for i in (1, 2, 3)]
    [0.5, 1.0, 1.5]
    """

    attempts: int = 3
    backoff: float = 0.5
    max_wait: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_wait < 0:
            raise ValueError(f"retries need attempts >= 1 and non-negative waits, found {self}")

    def wait(self, attempt: int) -> float:
        return min(self.backoff * 2 ** (attempt - 1), self.max_wait)


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, what: str,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn()``; on :class:`PacsConnectionError` wait and try again, up to ``policy.attempts`` times.

    The last error is raised with the number of attempts added to its message.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except PacsConnectionError as exc:
            if attempt == policy.attempts:
                raise PacsConnectionError(f"{exc} (gave up after {attempt} attempt(s))") from exc
            wait = policy.wait(attempt)
            log.warning("%s failed (%s); retrying in %.1f s (attempt %d of %d)", what, exc, wait,
                        attempt + 1, policy.attempts)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """A user name and password read from the environment; the password never shows in ``repr``."""

    user: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password='***')"

    def secrets(self) -> tuple[str, ...]:
        """Every form in which the password could leak into a text: plain, URL-quoted, Basic token."""
        if not self.password:
            return ()
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return tuple({self.password, urllib.parse.quote(self.password, safe=""), token})


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in ``text`` with ``***``.

    >>> redact("GET http://u:pw123@host failed", ["pw123"])
    'GET http://u:***@host failed'
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def read_credentials(name: str, username_env: str | None, password_env: str | None,
                     environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Read a node's login from the environment variables it names; ``None`` when it names none.

    Raises
    ------
    PacsConfigError
        Only one of the two variables is named, or a named variable is not set.
    """
    env = os.environ if environ is None else environ
    if not username_env and not password_env:
        return None
    values = []
    for key, var in (("username_env", username_env), ("password_env", password_env)):
        if var is None:
            raise PacsConfigError(f"node {name!r}: {key} is missing (both username_env and password_env "
                                  "are needed for a login)")
        if var not in env:
            raise PacsConfigError(f"node {name!r}: the environment variable {var} (named by {key}) "
                                  "is not set")
        values.append(env[var])
    return Credentials(values[0], values[1])


# --------------------------------------------------------------------------- the server


class DicomwebNode(Protocol):
    """What :class:`DicomwebConnection` reads of a server description."""

    @property
    def name(self) -> str: ...

    @property
    def username_env(self) -> str | None: ...

    @property
    def password_env(self) -> str | None: ...

    @property
    def timeout(self) -> float: ...

    @property
    def connect_timeout(self) -> float: ...

    @property
    def verify_tls(self) -> bool: ...

    @property
    def retry_policy(self) -> RetryPolicy: ...

    def credentials(self, environ: Mapping[str, str] | None = None) -> Credentials | None: ...

    def require_dicomweb(self) -> str: ...


@dataclass(frozen=True)
class DicomwebEndpoint:
    """A DICOMweb server: its name, base URL, login variables, timeouts and retries (no secret)."""

    name: str
    dicomweb_url: str
    username_env: str | None = None
    password_env: str | None = None
    timeout: float = 30.0
    connect_timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    verify_tls: bool = True

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retries, backoff=self.backoff)

    def credentials(self, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """Read the login from the environment now (see :func:`read_credentials`)."""
        return read_credentials(self.name, self.username_env, self.password_env, environ)

    def require_dicomweb(self) -> str:
        return self.dicomweb_url.rstrip("/")


# --------------------------------------------------------------------------- the connection


@dataclass
class StowResult:
    """What a STOW-RS request stored and refused (PS3.18 §10.5.3)."""

    stored: list[str] = field(default_factory=list)   # SOP Instance UIDs
    failed: list[tuple[str, str]] = field(default_factory=list)  # (SOP Instance UID, reason)


class DicomwebConnection:
    """A ``dicomweb-client`` session to one node, with auth, timeouts, retries and safe errors.

    Parameters
    ----------
    node : DicomwebEndpoint or caselib.pacs.PacsNode
        The server (its ``dicomweb_url``, timeouts, retries and credential variables).
    environ : mapping, optional
        Where to read the credentials (default ``os.environ``).
    """

    def __init__(self, node: DicomwebNode, *, environ: dict[str, str] | None = None) -> None:
        import requests
        from dicomweb_client import DICOMwebClient

        self.node = node
        self.url = node.require_dicomweb()
        creds: Credentials | None = node.credentials(environ)
        self._secrets = creds.secrets() if creds is not None else ()
        session = requests.Session()
        if creds is not None:
            session.auth = (creds.user, creds.password)
        session.verify = node.verify_tls
        self.session = session
        self.client = DICOMwebClient(self.url, session=session, timeout=(node.connect_timeout, node.timeout))
        self.client.set_http_retry_params(retry=False)  # our own retries, for transient failures only

    def __repr__(self) -> str:
        return f"DicomwebConnection(node={self.node.name!r}, url={self.url!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ error handling

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _translate(self, exc: BaseException, what: str) -> PacsError:
        """Map a ``requests``/client failure to a :class:`PacsError` whose message holds no secret."""
        import requests

        where = f"{what} on PACS {self.node.name!r} ({self.url})"
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            status = exc.response.status_code
            if status in (401, 403):
                return PacsAuthError(self.redact(
                    f"{where}: the server refused the credentials (HTTP {status}); check the variables "
                    f"{self.node.username_env} and {self.node.password_env}"))
            if status == 404:
                return PacsNotFoundError(self.redact(f"{where}: not found (HTTP 404)"))
            if status >= 500 or status == 429:
                return PacsConnectionError(self.redact(f"{where}: server error HTTP {status}"))
            return PacsError(self.redact(f"{where}: HTTP {status} {exc.response.reason}"))
        if isinstance(exc, requests.Timeout):
            return PacsConnectionError(self.redact(f"{where}: no answer within {self.node.timeout:g} s"))
        if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, ConnectionError)):
            return PacsConnectionError(self.redact(f"{where}: connection failed ({type(exc).__name__})"))
        return PacsError(self.redact(f"{where}: {type(exc).__name__}: {exc}"))

    def _call(self, fn: Callable[[], T], what: str) -> T:
        def once() -> T:
            try:
                return fn()
            except PacsError:
                raise
            except Exception as exc:  # noqa: BLE001 - translated, secrets removed
                error = self._translate(exc, what)
                if isinstance(error, PacsConnectionError):
                    self.session.close()  # drop pooled keep-alive connections: the retry opens fresh ones
                raise error from None

        return call_with_retries(once, self.node.retry_policy, f"{what} on {self.node.name}")

    # ------------------------------------------------------------------ QIDO-RS

    def ping(self) -> None:
        """One cheap authenticated QIDO request; raises :class:`PacsAuthError`/`PacsConnectionError`."""
        self._call(lambda: self.client.search_for_studies(limit=1), "QIDO-RS ping")

    def search_series(self, study_uid: str) -> list[tuple[str, int | None]]:
        """``(SeriesInstanceUID, number of instances)`` of every series of a study."""
        from pydicom.dataset import Dataset

        found = self._call(lambda: self.client.search_for_series(
            study_uid, fields=["NumberOfSeriesRelatedInstances"], get_remaining=True),
            f"QIDO-RS series search of study {study_uid}")
        out = []
        for item in found:
            ds = Dataset.from_json(item)
            n = ds.get("NumberOfSeriesRelatedInstances")
            out.append((str(ds.SeriesInstanceUID), int(n) if n not in (None, "") else None))
        return out

    def search_instances(self, study_uid: str, series_uid: str | None = None) -> list[tuple[str, str, str]]:
        """``(study, series, SOP instance)`` UIDs of the instances of a study (or series)."""
        from pydicom.dataset import Dataset

        found = self._call(lambda: self.client.search_for_instances(
            study_uid, series_uid, get_remaining=True), f"QIDO-RS instance search of study {study_uid}")
        out = []
        for item in found:
            ds = Dataset.from_json(item)
            out.append((str(ds.get("StudyInstanceUID", study_uid)), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)))
        return out

    # ------------------------------------------------------------------ WADO-RS

    def retrieve_series_to(self, study_uid: str, series_uid: str, folder: Path,
                           on_instance: Callable[[Path], None] | None = None) -> list[Path]:
        """Write every instance of a series as a Part 10 file into ``folder``; return the paths.

        Retried as a whole on a transient failure; files already written are
        overwritten by the retry (named by SOP Instance UID), so none is doubled.
        """
        folder.mkdir(parents=True, exist_ok=True)

        def fetch() -> list[Path]:
            written = []
            for ds in self.client.iter_series(study_uid, series_uid, media_types=_AS_STORED):
                written.append(_write_part10(ds, folder))
                if on_instance is not None:
                    on_instance(written[-1])
            return written

        return self._call(fetch, f"WADO-RS retrieve of series {series_uid}")

    def retrieve_instance_bytes(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        """One instance as Part 10 bytes (WADO-RS)."""
        ds = self._call(lambda: self.client.retrieve_instance(study_uid, series_uid, sop_uid, media_types=_AS_STORED),
                        f"WADO-RS retrieve of instance {sop_uid}")
        return _encode(ds)

    # ------------------------------------------------------------------ STOW-RS

    def store(self, datasets: Sequence[Any]) -> StowResult:
        """Send ``datasets`` in one STOW-RS request; report stored and refused SOP Instance UIDs."""
        response = self._call(lambda: self.client.store_instances(list(datasets)), "STOW-RS store")
        result = StowResult()
        for item in response.get("ReferencedSOPSequence", []) if response is not None else []:
            result.stored.append(str(item.ReferencedSOPInstanceUID))
        for item in response.get("FailedSOPSequence", []) if response is not None else []:
            reason = item.get("FailureReason")
            result.failed.append((str(item.get("ReferencedSOPInstanceUID", "?")),
                                  f"failure reason {int(reason):#06x}" if reason is not None else "refused"))
        return result


def _encode(ds: Any) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _write_part10(ds: Any, folder: Path) -> Path:
    """Write ``ds`` atomically as ``folder/<SOPInstanceUID>.dcm`` (a safe name: UIDs are digits and dots)."""
    from caselib.store.base import validate_uid

    sop = validate_uid(ds.get("SOPInstanceUID"), "(0008,0018) SOP Instance UID")
    path = folder / f"{sop}.dcm"
    tmp = folder / f".{sop}.part"
    tmp.write_bytes(_encode(ds))
    os.replace(tmp, path)
    return path
