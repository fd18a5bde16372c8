"""DICOMweb (PS3.18) for one configured PACS node, on top of ``dicomweb-client``.

:class:`DicomwebConnection` adds what a teaching archive needs around the client:
credentials from the environment on a ``requests`` session (HTTP basic auth,
never in the URL or in request headers that the client logs), connect and read
timeouts, retries with exponential backoff for transient failures only, and
errors that say what failed without ever showing a password
(:func:`caselib.pacs.config.redact`).

- QIDO-RS: :meth:`search_studies` (:class:`~caselib.pacs.query.StudyQuery`),
  :meth:`search_series`, :meth:`search_instances`;
- WADO-RS: :meth:`retrieve_series_to` writes the series' Part 10 files into a folder;
- STOW-RS: :meth:`store` sends datasets and reports which were refused.
"""
from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from caselib.pacs.config import Credentials, PacsNode, redact
from caselib.pacs.errors import PacsAuthError, PacsConnectionError, PacsError, PacsNotFoundError
from caselib.pacs.query import StudyMatch, StudyQuery
from caselib.pacs.retry import call_with_retries

__all__ = ["DicomwebConnection", "StowResult"]

T = TypeVar("T")
log = logging.getLogger("caselib.pacs")
#: WADO-RS media type asking for the objects in the transfer syntax the server keeps (no transcoding)
_AS_STORED = (("application/dicom", "*"),)


@dataclass
class StowResult:
    """What a STOW-RS request stored and refused (PS3.18 §10.5.3)."""

    stored: list[str] = field(default_factory=list)   # SOP Instance UIDs
    failed: list[tuple[str, str]] = field(default_factory=list)  # (SOP Instance UID, reason)


class DicomwebConnection:
    """A ``dicomweb-client`` session to one node, with auth, timeouts, retries and safe errors.

    Parameters
    ----------
    node : PacsNode
        The node (its ``dicomweb_url``, timeouts, retries and credential variables).
    environ : mapping, optional
        Where to read the credentials (default ``os.environ``).
    """

    def __init__(self, node: PacsNode, *, environ: dict[str, str] | None = None) -> None:
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

    def __enter__(self) -> DicomwebConnection:
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

    def search_studies(self, query: StudyQuery, *, limit: int | None = None) -> list[StudyMatch]:
        """Studies matching ``query`` (QIDO-RS ``/studies``)."""
        fields = ["NumberOfStudyRelatedInstances", "NumberOfStudyRelatedSeries", "ModalitiesInStudy",
                  "StudyDescription", "AccessionNumber", "PatientID", "StudyDate"]
        import urllib.parse

        params: list[tuple[str, str]] = list(query.to_qido().items()) + [("includefield", f) for f in fields]
        if limit is not None:
            params.append(("limit", str(limit)))
        # the wildcard '*' is sent as is: Orthanc 1.10 does not match a percent-encoded %2A (which
        # dicomweb-client's query builder sends), so this one request is built here on the same session
        url = f"{self.url}/studies?" + urllib.parse.urlencode(params, safe="*")

        def get() -> list[dict[str, Any]]:
            resp = self.session.get(url, headers={"Accept": "application/dicom+json"},
                                    timeout=(self.node.connect_timeout, self.node.timeout))
            resp.raise_for_status()
            return resp.json() if resp.content else []

        found = self._call(get, "QIDO-RS study search")
        return [StudyMatch.from_json(item) for item in found]

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
    from caselib.store import validate_uid

    sop = validate_uid(ds.get("SOPInstanceUID"), "(0008,0018) SOP Instance UID")
    path = folder / f"{sop}.dcm"
    tmp = folder / f".{sop}.part"
    tmp.write_bytes(_encode(ds))
    os.replace(tmp, path)
    return path


def iter_files(folder: Path) -> Iterator[Path]:
    """The ``.dcm`` files under ``folder``, sorted."""
    yield from sorted(p for p in folder.rglob("*.dcm") if p.is_file())


def chunked(items: Iterable[T], n: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch
