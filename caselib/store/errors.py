"""Errors raised by :mod:`caselib.store`.

They extend the :class:`caselib.errors.CaselibError` hierarchy without editing
``caselib/errors.py``: catch :class:`StoreError` for any failure of the
archive, or one of its subclasses for a specific one.

Examples
--------
>>> from caselib.errors import CaselibError
>>> from caselib.store.errors import ConflictError, StoreError
>>> issubclass(ConflictError, StoreError) and issubclass(StoreError, CaselibError)
True
"""
from __future__ import annotations

from caselib.errors import CaselibError

__all__ = [
    "ConflictError",
    "InstanceNotFoundError",
    "InvalidUIDError",
    "PacsAuthError",
    "PacsConfigError",
    "PacsConnectionError",
    "PacsError",
    "PacsNotFoundError",
    "StoreError",
    "TranscodeError",
    "VerificationError",
]


class StoreError(CaselibError):
    """Base class of every failure of an archive back end."""


class InvalidUIDError(StoreError, ValueError):
    """A Study, Series or SOP Instance UID is missing or not a valid DICOM UID.

    UIDs name folders and files of a :class:`~caselib.store.LocalStore`, so
    only UIDs valid per DICOM PS3.5 §9.1 (digits and dots, at most 64
    characters, no empty component, no leading zero) are accepted.  Also a
    :class:`ValueError`, since a UID passed to ``get``/``exists``/``delete``
    is an argument.
    """


class InstanceNotFoundError(StoreError):
    """The archive holds no object with the requested UIDs."""


class ConflictError(StoreError):
    """A different object with an existing SOP Instance UID was put.

    The ingest quarantines the new object.  ``existing`` names where the
    stored object lives; ``existing_fingerprint`` and ``new_fingerprint`` are
    the content fingerprints (see :func:`caselib.store.compute_fingerprint`)
    that differ.
    """

    def __init__(
        self,
        message: str,
        *,
        sop_instance_uid: str = "",
        existing: str = "",
        existing_fingerprint: str = "",
        new_fingerprint: str = "",
    ) -> None:
        super().__init__(message)
        self.sop_instance_uid = sop_instance_uid
        self.existing = existing
        self.existing_fingerprint = existing_fingerprint
        self.new_fingerprint = new_fingerprint


class TranscodeError(StoreError):
    """Pixel data could not be prepared for storage (e.g. it cannot be decoded)."""


class VerificationError(TranscodeError):
    """A transcoded object did not decode to the original pixels, bit for bit.

    Raised before anything is written: the archive never keeps an object
    whose pixels differ from its input.
    """


# --------------------------------------------------------------------------- remote archives (DICOMweb)
# Defined here, at the bottom of the chain, because the DICOMweb connection
# (:mod:`caselib.store._http`) lives here; :mod:`caselib.pacs.errors` re-exports them.


class PacsError(CaselibError):
    """A PACS / DICOMweb server could not do what was asked (the message names the node, never a password)."""


class PacsConfigError(PacsError, ValueError):
    """The PACS configuration is malformed, names an unknown node, or lacks a credential."""


class PacsConnectionError(PacsError):
    """The PACS did not answer (refused, reset or timed out) after every retry."""


class PacsAuthError(PacsError):
    """The PACS refused the credentials (HTTP 401/403)."""


class PacsNotFoundError(PacsError, LookupError):
    """The PACS holds no such study, series or instance."""
