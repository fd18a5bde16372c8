"""DICOMweb (PS3.18) for one configured PACS node: study queries on top of the shared connection.

The connection itself (credentials from the environment on a ``requests``
session, timeouts, retries with backoff, safe errors, QIDO-RS series/instance
searches, WADO-RS, STOW-RS) lives in :mod:`caselib.store._http`, because the
archive's own DICOMweb back end (:class:`caselib.store.dicomweb.DicomwebStore`)
uses it too.  This module adds the study search with caselib's query model:

- QIDO-RS: :meth:`DicomwebConnection.search_studies` (:class:`~caselib.pacs.query.StudyQuery`);
- everything else as in :class:`caselib.store._http.DicomwebConnection`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from caselib.pacs.query import StudyMatch, StudyQuery
from caselib.store._http import DicomwebConnection as _Connection
from caselib.store._http import StowResult

__all__ = ["DicomwebConnection", "StowResult"]

T = TypeVar("T")


class DicomwebConnection(_Connection):
    """The shared DICOMweb connection (:mod:`caselib.store._http`) plus QIDO-RS study search by :class:`StudyQuery`."""

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
