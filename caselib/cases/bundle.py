"""Case bundles: share teaching cases between schools as one self-contained zip.

``caselib cases export CASE... OUT.zip --archive DIR`` writes::

    bundle.json              format, caselib version, the cases and their series, object count
    cases/<id>/case.yaml     the case, its series named by the bundle's Series Instance UIDs
    objects/<Study>/<Series>/<SOP>.dcm   the de-identified images (as stored in the archive)
    LICENCES.md              licence, citation and source of every case and data set
    MANIFEST.sha256          sha256 of every other member (``sha256sum -c`` format)

Nothing from the archive's ``private/`` folder (secret, pseudonym registry,
journal, quarantine) is ever written.  Every object is checked by
:func:`check_deidentified` before it goes in.

``caselib cases import BUNDLE --archive DIR`` refuses the whole bundle, before
anything is written, when:

- the zip is hostile (member names leaving the folder, zip bombs, encrypted or
  nested members: the rules of :func:`caselib.ingest.iter_source`, reused);
- a member is missing from ``MANIFEST.sha256``, listed but absent, or its sha256
  differs (tampering or damage);
- a ``case.yaml`` does not follow the schema;
- an object fails the residual-PHI check (:func:`check_deidentified`);
- a case id already exists in the target case folder.

Then the objects go through the target archive's ingest pipeline (de-identified
again with *its* secret, verified, transcoded, cataloged), so their UIDs are
the target archive's HMAC of the bundle's UIDs: they never collide with what
the archive holds (a re-import of the same bundle is a no-op), and the case
files are written with the new Series Instance UIDs and registered in the catalog.

Residual-PHI check of a shared object
-------------------------------------
The importer has no original to compare with, so :func:`check_deidentified`
asks whether the object *is* de-identified: (0012,0062) Patient Identity
Removed is ``YES``; the residual-PHI verifier (:func:`caselib.deid.verify`) finds
no pattern (phone numbers, dates or record numbers in free text, e-mail) and no
private element outside the allow-list; and every value the de-identification
profile would remove or replace, other than UIDs and (shifted) dates, is empty
or a caselib pseudonym (``CL-`` + 6 digits).  Messages name tag paths, never values.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import re
import shutil
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from caselib.errors import CaselibError

__all__ = ["BUNDLE_FORMAT", "BundleError", "ExportResult", "ImportResult", "check_deidentified", "export_bundle",
           "import_bundle", "resolve_case_series"]

BUNDLE_FORMAT = "caselib-bundle/1"
MANIFEST = "MANIFEST.sha256"
INDEX = "bundle.json"
LICENCES = "LICENCES.md"
_PSEUDONYM = re.compile(r"CL-\d{6}")
_ALLOWED_KINDS = frozenset({"uid", "date"})  # de-identified UIDs and shifted dates are expected to remain


class BundleError(CaselibError):
    """A case bundle cannot be written or is refused on import (the message says why)."""


@dataclass
class ExportResult:
    path: Path
    cases: list[str]
    objects: int
    bytes: int

    def summary(self) -> str:
        return (f"wrote {self.path}: {len(self.cases)} case(s) ({', '.join(self.cases)}), {self.objects} objects, "
                f"{self.bytes / 1e6:.1f} MB")


@dataclass
class ImportResult:
    bundle: str
    archive: str
    cases: list[str] = field(default_factory=list)
    case_dirs: list[Path] = field(default_factory=list)
    series_map: dict[str, str] = field(default_factory=dict)  # bundle series UID -> archive series UID
    ingest: Any = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [f"imported {len(self.cases)} case(s) from {self.bundle} into {self.archive}: "
                 + ", ".join(self.cases)]
        if self.ingest is not None:
            lines.append(self.ingest.summary())
        lines += [f"  PROBLEM {p}" for p in self.problems]
        return "\n".join(lines)


# --------------------------------------------------------------------------- residual-PHI check


def check_deidentified(data: bytes, label: str = "object", profile: str = "teaching") -> list[str]:
    """Problems that show an object is not (fully) de-identified; empty when it passes.

    See the module docstring.  Tag paths only: never a value.

    Examples
    --------
    >>> from pydicom import examples
    >>> import io
    >>> buf = io.BytesIO(); examples.ct.save_as(buf)
    >>> check_deidentified(buf.getvalue(), "ct")[0]
    "ct: (0012,0062) Patient Identity Removed must be 'YES' in a de-identified object, found nothing"
    """
    import pydicom
    from pydicom.dataset import Dataset

    from caselib.deid import harvest_identifiers, verify

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=False)
    except Exception as exc:  # noqa: BLE001
        return [f"{label}: not a readable DICOM object ({type(exc).__name__})"]
    problems = []
    removed = str(ds.get("PatientIdentityRemoved", "") or "")
    if removed.upper() != "YES":
        problems.append(f"{label}: (0012,0062) Patient Identity Removed must be 'YES' in a de-identified "
                        f"object, found {'nothing' if not removed else repr(removed)}")
    report = verify(Dataset(), data, profile=profile)
    for path in sorted(set(report.paths)):
        problems.append(f"{label}: residual PHI at {path}")
    seen = set()
    for needle in harvest_identifiers(ds, profile):
        if needle.kind in _ALLOWED_KINDS or _PSEUDONYM.fullmatch(needle.text.strip()):
            continue
        key = (needle.source, needle.kind)
        if key not in seen:
            seen.add(key)
            problems.append(f"{label}: identifying {needle.kind} left in {needle.source}")
    return problems


# --------------------------------------------------------------------------- cases -> archive series


def _catalog_series(archive: Path) -> dict[str, str]:
    """series UID -> study UID of every series in the archive's catalog."""
    from caselib.catalog import Catalog

    with Catalog.open(archive, readonly=True) as cat:
        rows = cat.connection.execute(
            "SELECT s.series_uid, t.study_uid FROM series s JOIN studies t ON t.study_pk = s.study_pk").fetchall()
    return {r[0]: r[1] for r in rows}


def _keyring(archive: Path) -> Any:
    from caselib.archive import ArchiveLayout
    from caselib.deid import Keyring, load_secret

    layout = ArchiveLayout.at(archive)
    if not layout.secret.is_file():
        raise BundleError(f"{archive} is not an ingested archive: no {layout.secret}")
    return Keyring(load_secret(layout.secret, create=False))


def resolve_case_series(case: Any, archive: str | os.PathLike[str]) -> list[list[str]]:
    """For each series reference of ``case``, the archive's Series Instance UID(s) it names.

    A ``series_uid`` reference is used as is when the catalog has it, else as an
    *original* UID mapped with the archive's key (ingest replaces UIDs); a
    ``manifest_key`` (a file or a whole data set) is resolved through the data
    manifest: each file's Series Instance UID, mapped the same way.

    Raises
    ------
    BundleError
        A reference names nothing the archive holds (ingest it first).
    """
    import pydicom

    from caselib.data import fetch, load_manifest

    root = Path(archive)
    known = _catalog_series(root)
    keys = _keyring(root)
    out: list[list[str]] = []
    for i, ref in enumerate(case.series):
        found: list[str] = []
        if ref.series_uid is not None:
            uid = str(ref.series_uid)
            found = [uid] if uid in known else [keys.uid(uid)] if keys.uid(uid) in known else []
        else:
            manifest = load_manifest()
            key = str(ref.manifest_key)
            if key in manifest.files:
                entries = [manifest.files[key]]
            elif key in manifest.datasets:
                entries = list(manifest.datasets[key].files)
            else:
                raise BundleError(f"case {case.id}: series[{i}].manifest_key {key!r} is neither a file nor a data "
                                  "set of the data manifest")
            for entry in entries:
                try:
                    ds = pydicom.dcmread(fetch(entry.key), stop_before_pixels=True)
                    uid = keys.uid(str(ds.SeriesInstanceUID))
                except Exception:  # noqa: BLE001 - not a DICOM file (e.g. a README of the data set)
                    continue
                if uid in known and uid not in found:
                    found.append(uid)
        if not found:
            raise BundleError(f"case {case.id}: series[{i}] ({ref.ref}) is not in the archive {root}; "
                              f"ingest it first (caselib ingest SRC --archive {root})")
        out.append(found)
    return out


def _rewrite_case(data: dict[str, Any], resolved: list[list[str]], rename: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    """The case YAML with each series reference replaced by ``{series_uid: ...}`` (and findings re-pointed)."""
    data = json.loads(json.dumps(data, default=str))  # deep copy of plain data
    old_refs = data.get("series", [])
    new_series: list[dict[str, str]] = []
    first_index: dict[int, int] = {}
    ref_text: dict[str, int] = {}
    for i, uids in enumerate(resolved):
        first_index[i] = len(new_series)
        old = old_refs[i] if i < len(old_refs) else {}
        for v in (old.values() if isinstance(old, dict) else []):
            ref_text[str(v)] = i
        for uid in uids:
            new_series.append({"series_uid": (rename or {}).get(uid, uid)})
    data["series"] = new_series
    for finding in data.get("findings", []) or []:
        ref = finding.get("series")
        if isinstance(ref, int) and ref in first_index:
            finding["series"] = first_index[ref]
        elif isinstance(ref, str) and ref in ref_text:
            finding["series"] = first_index[ref_text[ref]]
    return data


# --------------------------------------------------------------------------- export


def _case_folder(ref: str | os.PathLike[str], cases_root: Path) -> Path:
    p = Path(ref)
    if (p / "case.yaml").is_file():
        return p
    if p.name == "case.yaml" and p.is_file():
        return p.parent
    for candidate in sorted(cases_root.rglob("case.yaml")):
        if candidate.parent.name == str(ref):
            return candidate.parent
    raise BundleError(f"no case {str(ref)!r}: expected a folder with case.yaml or a case id under {cases_root}")


def _licence_text(cases: list[Any], datasets: dict[str, Any]) -> str:
    lines = ["# Licences and citations", "",
             "Cite every data set below wherever its images are shown (CC BY requires it).", ""]
    for case in cases:
        lines += [f"## case {case.id}", f"- licence: {case.licence}", f"- citation: {case.citation}",
                  f"- source: {case.source}", ""]
    for name, ds in sorted(datasets.items()):
        lines += [f"## data set {name}", f"- licence: {ds.licence}", f"- citation: {ds.citation}", ""]
    return "\n".join(lines)


def export_bundle(cases: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str],
                  archive: str | os.PathLike[str], *, cases_root: str | os.PathLike[str] = "cases") -> ExportResult:
    """Write a case bundle (see the module docstring); the zip is renamed into place when complete.

    The images are read through the archive's store (:func:`caselib.archive.open_store`:
    ``objects/`` or the DICOMweb server named in ``ARCHIVE/store.toml``).
    """
    from caselib import __version__
    from caselib.archive import open_store
    from caselib.cases.schema import load_case, read_case_yaml
    from caselib.data import load_manifest

    root = Path(archive)
    known = _catalog_series(root)
    loaded = []
    for ref in cases:
        folder = _case_folder(ref, Path(cases_root))
        case = load_case(folder)
        data, _origin = read_case_yaml(folder, "case.yaml")
        loaded.append((case, data, resolve_case_series(case, root)))
    if not loaded:
        raise BundleError("no case to export")
    ids = [c.id for c, _, _ in loaded]
    if len(set(ids)) != len(ids):
        raise BundleError(f"a case is named twice: {ids}")
    manifest = load_manifest()
    datasets = {}
    for case, _, _ in loaded:
        for series_ref in case.series:
            key = series_ref.manifest_key
            if key and key in manifest.files:
                datasets[manifest.files[key].dataset] = manifest.datasets[manifest.files[key].dataset]
            elif key and key in manifest.datasets:
                datasets[key] = manifest.datasets[key]
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial")
    sums: dict[str, str] = {}
    n_objects = 0
    from caselib.deid import load_secret, secret_fingerprint

    origin = secret_fingerprint(load_secret(root / "private" / "secret.key", create=False))
    index: dict[str, Any] = {"format": BUNDLE_FORMAT, "caselib": __version__, "origin": origin,
                             "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "cases": [], "objects": 0}
    written: set[str] = set()
    store = open_store(root, check=True)  # objects/ or the archive's DICOMweb server
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            def add(name: str, payload: bytes) -> None:
                zf.writestr(name, payload)
                sums[name] = hashlib.sha256(payload).hexdigest()

            for case, data, resolved in loaded:
                series_uids = [u for group in resolved for u in group]
                for series_uid in series_uids:
                    study_uid = known[series_uid]
                    for ikey in store.iter_instances(study_uid, series_uid):
                        name = f"objects/{ikey.study_uid}/{ikey.series_uid}/{ikey.sop_instance_uid}.dcm"
                        if name in written:
                            continue
                        with store.open(ikey) as fh:
                            payload = fh.read()
                        problems = check_deidentified(payload, name)
                        if problems:
                            raise BundleError("not exported: " + "; ".join(problems[:10]))
                        add(name, payload)
                        written.add(name)
                        n_objects += 1
                text = yaml.safe_dump(_rewrite_case(data, resolved), allow_unicode=True, sort_keys=False)
                add(f"cases/{case.id}/case.yaml", text.encode("utf-8"))
                index["cases"].append({"id": case.id, "title": {"zh": case.title.zh, "en": case.title.en},
                                       "series": series_uids, "licence": case.licence, "citation": case.citation,
                                       "source": case.source})
            index["objects"] = n_objects
            add(LICENCES, _licence_text([c for c, _, _ in loaded], datasets).encode("utf-8"))
            add(INDEX, json.dumps(index, indent=2, ensure_ascii=False).encode("utf-8"))
            zf.writestr(MANIFEST, "".join(f"{sums[n]}  {n}\n" for n in sorted(sums)))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        close = getattr(store, "close", None)
        if close is not None:
            close()
    return ExportResult(out, ids, n_objects, out.stat().st_size)


# --------------------------------------------------------------------------- import


def _qualify_patient(data: bytes, origin: str) -> bytes:
    """Prefix the sending archive's pseudonym with its origin before the target's ingest.

    The target archive hands out its own pseudonyms (``CL-000001``...); without the
    prefix the sender's ``CL-000001`` could equal the new one, which the verifier
    rightly reports as a surviving identifier.  The same sender and patient give
    the same prefixed value, so one patient stays one patient across bundles.
    """
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data))
    pid = str(ds.get("PatientID", "") or "")
    qualified = f"XB{origin}-{pid or 'UNKNOWN'}"[:64]
    ds.PatientID = qualified
    ds.PatientName = qualified
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _read_members(bundle: Path, limits: Any) -> dict[str, bytes]:
    from caselib.ingest.sources import Rejected, iter_source

    if not zipfile.is_zipfile(bundle):
        raise BundleError(f"{bundle}: expected a case bundle (a zip file), found something else")
    members: dict[str, bytes] = {}
    refused: list[str] = []
    prefix = f"{bundle}::"
    for item in iter_source(bundle, limits):
        name = item.label[len(prefix):] if item.label.startswith(prefix) else item.label
        if isinstance(item, Rejected):
            refused.append(f"{name}: {item.reason}")
            continue
        try:
            members[name] = item.read()
        except (OSError, ValueError) as exc:
            refused.append(f"{name}: cannot read: {exc}")
    if refused:
        raise BundleError(f"{bundle}: refused, unsafe or unreadable members: " + "; ".join(refused[:10]))
    return members


def _check_manifest(bundle: Path, members: dict[str, bytes]) -> None:
    if MANIFEST not in members:
        raise BundleError(f"{bundle}: refused, no {MANIFEST} (a caselib bundle lists the sha256 of every member)")
    listed: dict[str, str] = {}
    for n, line in enumerate(members[MANIFEST].decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        m = re.fullmatch(r"([0-9a-f]{64})  (.+)", line)
        if not m:
            raise BundleError(f"{bundle}: {MANIFEST} line {n}: expected '<sha256>  <member>', found {line[:80]!r}")
        listed[m[2]] = m[1]
    problems = []
    for name, expected in sorted(listed.items()):
        if name not in members:
            problems.append(f"{name} is listed but missing")
            continue
        found = hashlib.sha256(members[name]).hexdigest()
        if found != expected:
            problems.append(f"{name}: sha256 expected {expected}, found {found}")
    for name in sorted(set(members) - set(listed) - {MANIFEST}):
        problems.append(f"{name} is not listed in {MANIFEST}")
    if problems:
        raise BundleError(f"{bundle}: refused, checksums do not match (tampered or damaged): "
                          + "; ".join(problems[:10]))


_OBJECT_NAME = re.compile(r"objects/([0-9.]+)/([0-9.]+)/([0-9.]+)\.dcm")
_CASE_NAME = re.compile(r"cases/([A-Za-z0-9][A-Za-z0-9._-]*)/case\.yaml")


def import_bundle(bundle: str | os.PathLike[str], archive: str | os.PathLike[str], *,
                  cases_dir: str | os.PathLike[str] | None = None, limits: Any = None,
                  workers: int | None = 1, compression: str = "jpeg-ls") -> ImportResult:
    """Verify a bundle and add its cases and images to ``archive`` (see the module docstring).

    Parameters
    ----------
    cases_dir : path-like, optional
        Where the case folders go (default ``ARCHIVE/cases``).

    Raises
    ------
    BundleError
        The bundle is refused; nothing was written.
    """
    from caselib.cases.schema import Case, CaseSchemaError
    from caselib.store import validate_uid

    bundle = Path(bundle)
    root = Path(archive)
    target = Path(cases_dir) if cases_dir is not None else root / "cases"
    members = _read_members(bundle, limits)
    _check_manifest(bundle, members)
    if INDEX not in members:
        raise BundleError(f"{bundle}: refused, no {INDEX}")
    try:
        index = json.loads(members[INDEX])
    except ValueError as exc:
        raise BundleError(f"{bundle}: {INDEX} is not JSON: {exc}") from None
    if index.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{bundle}: expected bundle format {BUNDLE_FORMAT!r}, found {index.get('format')!r}")
    objects: dict[str, bytes] = {}
    cases: dict[str, dict[str, Any]] = {}
    for name, payload in members.items():
        if name in (MANIFEST, INDEX, LICENCES):
            continue
        if m := _OBJECT_NAME.fullmatch(name):
            for part, what in zip(m.groups(), ("study", "series", "SOP instance")):
                try:
                    validate_uid(part, f"{name}: {what} UID")
                except ValueError as exc:
                    raise BundleError(f"{bundle}: refused, {exc}") from None
            objects[name] = payload
        elif m := _CASE_NAME.fullmatch(name):
            try:
                data = yaml.safe_load(payload.decode("utf-8"))
                case = Case.from_dict(data, origin=f"{bundle}::{name}")
            except (CaseSchemaError, yaml.YAMLError, UnicodeDecodeError) as exc:
                raise BundleError(f"{bundle}: refused, {exc}") from None
            if case.id != m[1]:
                raise BundleError(f"{bundle}: refused, {name} holds case id {case.id!r}, expected {m[1]!r}")
            cases[case.id] = data
        else:
            raise BundleError(f"{bundle}: refused, unexpected member {name!r} (expected objects/, cases/, "
                              f"{INDEX}, {LICENCES}, {MANIFEST})")
    if not cases:
        raise BundleError(f"{bundle}: refused, no case in the bundle")
    problems = []
    for name in sorted(objects):
        problems += check_deidentified(objects[name], name)
    if problems:
        raise BundleError(f"{bundle}: refused, the residual-PHI check failed: " + "; ".join(problems[:10])
                          + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    bundle_series = {_OBJECT_NAME.fullmatch(n)[2] for n in objects}  # type: ignore[index]
    for cid, data in cases.items():
        for ref in data.get("series", []):
            uid = ref.get("series_uid") if isinstance(ref, dict) else None
            if uid not in bundle_series:
                raise BundleError(f"{bundle}: refused, case {cid} names series {uid!r}, which the bundle does not hold")
        if (target / cid).exists():
            raise BundleError(f"{bundle}: refused, case {cid} already exists at {target / cid}")

    # everything checked: ingest the images, then write the cases
    from caselib.archive import ArchiveLayout
    from caselib.deid import Keyring, load_secret
    from caselib.ingest import ingest
    from caselib.pacs.pull import new_temp_folder, wipe_stale_incoming

    layout = ArchiveLayout.at(root).create()
    load_secret(layout.secret, create=True)
    wipe_stale_incoming(root)
    folder = new_temp_folder(root, "bundle")
    try:
        origin = str(index.get("origin") or hashlib.sha256(members[INDEX]).hexdigest())[:16]
        for name, payload in objects.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_qualify_patient(payload, origin))
        report = ingest(folder, root, compression=compression, workers=workers, progress=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    keys = Keyring(load_secret(layout.secret, create=False))
    result = ImportResult(str(bundle), str(root), ingest=report)
    result.series_map = {uid: keys.uid(uid) for uid in sorted(bundle_series)}
    if report.quarantined:
        result.problems.append(f"{report.quarantined} object(s) were quarantined by the target archive's ingest "
                               "(caselib quarantine list); their cases may miss images")
    from caselib.catalog import CaseRecord, Catalog

    target.mkdir(parents=True, exist_ok=True)
    records = []
    for cid, data in cases.items():
        resolved = [[ref["series_uid"]] for ref in data.get("series", [])]
        new = _rewrite_case(data, resolved, result.series_map)
        case_dir = target / cid
        case_dir.mkdir(parents=True)
        (case_dir / "case.yaml").write_text(yaml.safe_dump(new, allow_unicode=True, sort_keys=False), encoding="utf-8")
        if LICENCES in members:
            (case_dir / LICENCES).write_bytes(members[LICENCES])
        case = Case.from_dict(new, origin=str(case_dir / "case.yaml"))
        label = case.diagnosis or case.topic
        records.append(CaseRecord(case.id, case.title.en, case.title.zh, case.organ_system,
                                  diagnosis_en=label.en if label else None, diagnosis_zh=label.zh if label else None,
                                  difficulty=case.difficulty, synthetic=case.synthetic,
                                  series_uids=tuple(r["series_uid"] for r in new["series"])))
        result.cases.append(cid)
        result.case_dirs.append(case_dir)
    with Catalog.open(root) as cat:
        cat.add_cases(records)
    return result


def _posix(name: str) -> str:  # pragma: no cover - kept for symmetry with ingest labels
    return PurePosixPath(name).as_posix()
