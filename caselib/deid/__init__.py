"""De-identification core: PS3.15 confidentiality profile as data, steps, verifier.

Pure functions and small objects on pydicom datasets (pydicom and the standard
library only); the ingest pipeline, quarantine, storage and CLI build on this API.

Public API
----------
- :class:`Deidentifier` ``(profile, secret, registry)`` with
  :meth:`~Deidentifier.deidentify` ``(ds) -> DeidResult`` (dataset, patient_pseudonym,
  uid_map, date_offset_days, actions_log, profile, pixel_phi_risks).
- :class:`Profile` (a name and a tuple of :class:`Step`), :func:`get_profile`,
  :func:`list_profiles`, :func:`register_profile`; the steps
  :class:`BasicProfile`, :class:`PseudonymizePatient`,
  :class:`RetainLongitudinalModifiedDates`, :class:`RetainLongitudinalFullDates`,
  :class:`RetainPatientCharacteristics`, :class:`CleanDescriptors`,
  :class:`CleanStructuredContent`, :class:`CleanGraphics`, :class:`RetainSafePrivate`,
  :class:`RetainDeviceIdentity`, :class:`RetainInstitutionIdentity`.
- :func:`verify` ``(original, output) -> VerificationReport`` (residual-PHI scan).
- :func:`pixel_phi_risk` ``(ds) -> list[str]``.
- :func:`load_secret` ``(path, create=True) -> bytes``; pseudonym registries
  :class:`MemoryPseudonymRegistry`, :class:`SQLitePseudonymRegistry`,
  :class:`JSONPseudonymRegistry`, :func:`open_registry`.
- The table: :func:`load_table`, :class:`Action`, :class:`Option`.

Conformance notes (PS3.15 E.1.1 asks for them)
------------------------------------------------
- **Table**: PS3.15 Table E.1-1 of revision 2026c, kept as data
  (``data/ps3.15-table-E.1-1.json``: the 2024b table with every option column plus
  the rows 2026c adds, each row with its revision, each source file with its sha256).
  caselib's own additions (File Meta AE titles, SR Text Value) are in
  ``data/caselib-rows.json`` with their reasons.  Applied to every element at every
  nesting level and to the File Meta, which is then replaced (E.1.1 item 7).
- **Compound actions** (``Z/D``, ``X/Z``, ``X/D``, ``X/Z/D``) take the strictest
  choice the attribute's type allows (``data/iod-types.json``; unknown means Type 3,
  so ``X``); ``X/Z/U*`` keeps the references with their UIDs replaced (see
  :mod:`caselib.deid.table`).
- **Not in the table**: private attributes are removed (unless allow-listed);
  public attributes nobody knows (VR UN) are removed; DA/DT are treated like Study
  Date (E.1.1 note 4); overlay planes go whole with their Overlay Data; group lengths
  go; every UID not a class UID is replaced.
- **UIDs**: ``2.25.`` + 128 bits of HMAC-SHA256(archive secret, UID) as a version-8
  UUID: the same input gives the same output in every file, run and session of the
  archive; class UIDs (DICOM root, pydicom's registry, any SOP Class / Transfer
  Syntax / Coding Scheme UID attribute) are never changed.
- **Patients**: Patient's Name and Patient ID become ``CL-000123``, a number the
  archive's registry hands out once per HMAC(secret, issuer + Patient ID).
- **Dates** (Modified Dates option): one whole-day offset per patient, from the HMAC of
  the patient identity, uniform in -3650..-365 days by default; DA and the date
  part of DT shifted, TM kept; Longitudinal Temporal Information Modified = MODIFIED.
- **Patient characteristics**: kept; Patient's Age above 89 years written ``090Y``
  (AS cannot say "90+"); Patient's Birth Date is always emptied (Basic Profile Z).
- **Descriptors / structured content / graphic text**: scrubbed of every identifier
  harvested from the file's own header and of phone numbers, dates, e-mail and record
  numbers (:mod:`caselib.deid.text`), or removed (``mode="remove"``); text that
  cannot be decoded is removed.
- **Graphics**: overlays, curves and icon images removed; graphic annotations kept
  with their text scrubbed.
- **Pixels**: never changed; :func:`pixel_phi_risk` flags objects that may carry
  burned-in text.  Clean Pixel Data, Clean Recognizable Visual Features and Retain
  UIDs are not offered.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> from caselib import deid
>>> ds = Dataset()
>>> ds.PatientName, ds.PatientID, ds.PatientAge = "Doe^Jane", "MRN-0042", "095Y"
>>> ds.StudyDescription = "CT head for Jane Doe"
>>> deidentifier = deid.Deidentifier("teaching", secret=b"s" * 32)
>>> result = deidentifier.deidentify(ds)
>>> out = result.dataset
>>> out.PatientName, out.PatientAge, out.StudyDescription
('CL-000001', '090Y', 'CT head for *** ***')
>>> deid.verify(ds, out).ok
True
"""
from __future__ import annotations

from caselib.deid.engine import (
    ActionRecord,
    DeidResult,
    Deidentifier,
    dataset_to_bytes,
    harvest_identifiers,
    patient_identity,
)
from caselib.deid.errors import DeidError, ProfileTableError, RegistryError, ResidualPHIError, SecretError
from caselib.deid.keys import Keyring, generate_secret, load_secret, secret_fingerprint
from caselib.deid.pixels import pixel_phi_risk
from caselib.deid.private import SafePrivateEntry, SafePrivateList
from caselib.deid.profile import (
    BasicProfile,
    CleanDescriptors,
    CleanGraphics,
    CleanStructuredContent,
    Profile,
    PseudonymizePatient,
    RetainDeviceIdentity,
    RetainInstitutionIdentity,
    RetainLongitudinalFullDates,
    RetainLongitudinalModifiedDates,
    RetainPatientCharacteristics,
    RetainSafePrivate,
    Step,
    get_profile,
    list_profiles,
    register_profile,
)
from caselib.deid.registry import (
    JSONPseudonymRegistry,
    MemoryPseudonymRegistry,
    PseudonymRegistry,
    SQLitePseudonymRegistry,
    format_pseudonym,
    open_registry,
)
from caselib.deid.table import Action, ConfidentialityTable, Option, TableRow, load_table
from caselib.deid.text import Needle
from caselib.deid.verify import Hit, VerificationReport, verify

__all__ = [
    # de-identification
    "Deidentifier",
    "DeidResult",
    "ActionRecord",
    "patient_identity",
    "dataset_to_bytes",
    # profiles and steps
    "Profile",
    "Step",
    "BasicProfile",
    "PseudonymizePatient",
    "RetainLongitudinalModifiedDates",
    "RetainLongitudinalFullDates",
    "RetainPatientCharacteristics",
    "CleanDescriptors",
    "CleanStructuredContent",
    "CleanGraphics",
    "RetainSafePrivate",
    "RetainDeviceIdentity",
    "RetainInstitutionIdentity",
    "get_profile",
    "list_profiles",
    "register_profile",
    "SafePrivateEntry",
    "SafePrivateList",
    # verification and pixel risk
    "verify",
    "VerificationReport",
    "Hit",
    "Needle",
    "harvest_identifiers",
    "pixel_phi_risk",
    # secrets and pseudonyms
    "load_secret",
    "generate_secret",
    "secret_fingerprint",
    "Keyring",
    "PseudonymRegistry",
    "MemoryPseudonymRegistry",
    "SQLitePseudonymRegistry",
    "JSONPseudonymRegistry",
    "open_registry",
    "format_pseudonym",
    # the table
    "load_table",
    "ConfidentialityTable",
    "TableRow",
    "Action",
    "Option",
    # errors
    "DeidError",
    "ProfileTableError",
    "SecretError",
    "RegistryError",
    "ResidualPHIError",
]
