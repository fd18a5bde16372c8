"""Errors of the PACS layer; every message is free of credentials (see :func:`caselib.pacs.config.redact`).

The connection-level errors live with the DICOMweb connection in
:mod:`caselib.store.errors` (the archive's DICOMweb back end raises them too)
and are the same classes here.
"""
from __future__ import annotations

from caselib.store.errors import (
    PacsAuthError,
    PacsConfigError,
    PacsConnectionError,
    PacsError,
    PacsNotFoundError,
)

__all__ = [
    "AssociationRejectedError",
    "PacsAuthError",
    "PacsConfigError",
    "PacsConnectionError",
    "PacsError",
    "PacsNotFoundError",
    "PacsTransferError",
]


class AssociationRejectedError(PacsError):
    """A DICOM association was rejected or aborted (wrong AE title, unknown peer, no common context)."""


class PacsTransferError(PacsError):
    """A retrieve or store finished with failures (counts say how many)."""
