"""PACS connectivity: query, pull, publish and receive, over DICOMweb or DIMSE.

- :mod:`~caselib.pacs.config`: named PACS nodes in a TOML/YAML file, credentials
  from environment variables only (:class:`PacsConfig`, :func:`load_config`);
- :mod:`~caselib.pacs.dicomweb`: QIDO-RS / WADO-RS / STOW-RS on ``dicomweb-client``;
- :mod:`~caselib.pacs.dimse`: C-ECHO, C-FIND, C-MOVE, C-GET, C-STORE and a
  C-STORE receiver with an AE-title allow-list, on ``pynetdicom``;
- :func:`pull`: query + retrieve into the ingest pipeline (raw objects only in a
  temporary folder under ``private/``, wiped afterwards);
- :func:`push`: publish a de-identified archive, chosen studies or cases to a
  teaching PACS (STOW-RS or C-STORE);
- :func:`receive`: ``caselib receive``: ingest what a PACS sends.

Timeouts, retries with exponential backoff for transient failures, and
per-study reports everywhere; no password ever reaches a log line, report or
exception message.
"""
from __future__ import annotations

from caselib.pacs.config import (
    Credentials,
    LocalNode,
    PacsConfig,
    PacsNode,
    load_config,
    redact,
)
from caselib.pacs.errors import (
    AssociationRejectedError,
    PacsAuthError,
    PacsConfigError,
    PacsConnectionError,
    PacsError,
    PacsNotFoundError,
    PacsTransferError,
)
from caselib.pacs.pull import PullReport, StudyPull, pull
from caselib.pacs.push import PushReport, StudyPush, push
from caselib.pacs.query import StudyMatch, StudyQuery
from caselib.pacs.receive import Receiver, receive
from caselib.pacs.retry import RetryPolicy

__all__ = [
    "AssociationRejectedError", "Credentials", "LocalNode", "PacsAuthError", "PacsConfig", "PacsConfigError",
    "PacsConnectionError", "PacsError", "PacsNode", "PacsNotFoundError", "PacsTransferError", "PullReport",
    "PushReport", "Receiver", "RetryPolicy", "StudyMatch", "StudyPull", "StudyPush", "StudyQuery", "load_config",
    "pull", "push", "receive", "redact",
]
