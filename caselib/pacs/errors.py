"""Errors of the PACS layer; every message is free of credentials (see :func:`caselib.pacs.config.redact`)."""
from __future__ import annotations

from caselib.errors import CaselibError

__all__ = ["PacsError", "PacsConfigError", "PacsConnectionError", "PacsAuthError", "PacsNotFoundError",
           "AssociationRejectedError", "PacsTransferError"]


class PacsError(CaselibError):
    """A PACS could not do what was asked (the message names the node, never a password)."""


class PacsConfigError(PacsError, ValueError):
    """The PACS configuration file is malformed, names an unknown node, or lacks a credential."""


class PacsConnectionError(PacsError):
    """The PACS did not answer (refused, reset or timed out) after every retry."""


class PacsAuthError(PacsError):
    """The PACS refused the credentials (HTTP 401/403)."""


class PacsNotFoundError(PacsError, LookupError):
    """The PACS holds no such study, series or instance."""


class AssociationRejectedError(PacsError):
    """A DICOM association was rejected or aborted (wrong AE title, unknown peer, no common context)."""


class PacsTransferError(PacsError):
    """A retrieve or store finished with failures (counts say how many)."""
