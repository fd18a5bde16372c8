"""The ingest pipeline: DICOM sources into a de-identified, losslessly stored, cataloged archive.

``ingest(source, archive)`` reads a folder tree, zip or DICOMDIR; validates each
object; de-identifies it (:mod:`caselib.deid`); verifies that no identifier
survives; transcodes it losslessly and writes it atomically (:mod:`caselib.store`);
and indexes it (:mod:`caselib.catalog`).  Whatever fails goes to quarantine
with a reason.  Re-running converges; originals are never modified.
"""
from __future__ import annotations

from caselib.ingest.pipeline import (
    ArchiveVerification,
    verify_archive,
    Ignored,
    IngestReport,
    Published,
    Refused,
    default_secret_file,
    deidentify_folder,
    ingest,
    process_object,
)
from caselib.ingest.quarantine import Quarantine, QuarantineRecord
from caselib.ingest.sources import Limits, Rejected, SourceItem, is_unsafe_member_name, iter_source
from caselib.ingest.validate import InvalidObjectError, NotAnObjectError, parse_object, validate_object

__all__ = [
    "ingest", "verify_archive", "ArchiveVerification", "deidentify_folder", "default_secret_file", "IngestReport", "Published", "Refused", "Ignored", "process_object",
    "Quarantine", "QuarantineRecord",
    "Limits", "Rejected", "SourceItem", "iter_source", "is_unsafe_member_name",
    "InvalidObjectError", "NotAnObjectError", "parse_object", "validate_object",
]
