"""Case bundles (`caselib cases export|import`): self-contained, checksummed, refused when tampered or leaky."""
from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pydicom
import pytest
import yaml

from caselib.cases import load_case
from caselib.cases.bundle import MANIFEST, BundleError, check_deidentified, export_bundle, import_bundle
from caselib.catalog import Catalog
from caselib.data import fetch
from caselib.ingest import ingest, verify_archive
from caselib.store import LocalStore

sys.path.insert(0, str(Path(__file__).parent))
from deid_canary import CANARY_STRINGS, NAME, find_in_bytes, make_canary_ct, to_bytes  # noqa: E402
from ingest_fixtures import make_ct, to_part10, uid  # noqa: E402

CASES = Path(__file__).resolve().parents[1] / "cases"
CASE_ID = "nema-rg3-leg-cr"


@pytest.fixture(scope="module")
def source_archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    src = root / "src"
    src.mkdir()
    shutil.copy(fetch("pydicom-data/RG3_UNCI.dcm"), src / "rg3.dcm")
    report = ingest(src, root / "A", workers=1, progress=False)
    assert report.published == 1, report.summary()
    return root / "A"


@pytest.fixture(scope="module")
def bundle(source_archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "case.zip"
    result = export_bundle([CASE_ID], out, source_archive, cases_root=CASES)
    assert result.objects == 1 and result.cases == [CASE_ID]
    return out


def _rewrite(src: Path, dest: Path, change: dict[str, bytes | None], *, fix_manifest: bool) -> Path:
    """Copy a bundle with members replaced/added (bytes) or removed (None); optionally recompute the manifest."""
    with zipfile.ZipFile(src) as zin:
        members = {n: zin.read(n) for n in zin.namelist()}
    for name, data in change.items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    if fix_manifest:
        members[MANIFEST] = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n"
                                    for n, d in sorted(members.items()) if n != MANIFEST).encode()
    with zipfile.ZipFile(dest, "w") as zout:
        for name, data in members.items():
            zout.writestr(name, data)
    return dest


def _object_name(bundle: Path) -> str:
    return next(n for n in zipfile.ZipFile(bundle).namelist() if n.startswith("objects/"))


def test_export_is_self_contained_and_checksummed(bundle, source_archive):
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        members = {n: zf.read(n) for n in names}
    assert {"bundle.json", "LICENCES.md", MANIFEST, f"cases/{CASE_ID}/case.yaml"} <= set(names)
    assert not any("private" in n or "secret" in n or "journal" in n for n in names)
    listed = dict(reversed(line.split("  ", 1)) for line in members[MANIFEST].decode().splitlines())
    assert set(listed) == set(names) - {MANIFEST}
    assert all(hashlib.sha256(members[n]).hexdigest() == h for n, h in listed.items())
    # the images are the archive's de-identified objects, byte for byte
    store = LocalStore(source_archive)
    stored = {store.path_for(k).read_bytes() for k in store.iter_instances()}
    assert {members[n] for n in names if n.startswith("objects/")} == stored
    # the case names its series by the bundle's UID; licence and citation travel with it
    case = yaml.safe_load(members[f"cases/{CASE_ID}/case.yaml"])
    series_uid = _object_name(bundle).split("/")[2]
    assert case["series"] == [{"series_uid": series_uid}]
    licences = members["LICENCES.md"].decode()
    assert "MIT" in licences and "pydicom-data" in licences
    # nothing identifying of the original survives
    original = pydicom.dcmread(fetch("pydicom-data/RG3_UNCI.dcm"), stop_before_pixels=True)
    for member in (members[n] for n in names if n.startswith("objects/")):
        assert check_deidentified(member) == []
        assert original.SOPInstanceUID.encode() not in member


def test_import_adds_cases_with_new_uids_that_never_collide(bundle, source_archive, tmp_path):
    target = tmp_path / "B"
    pre = tmp_path / "pre"
    pre.mkdir()
    (pre / "ct.dcm").write_bytes(to_part10(make_ct(sop=uid(9, 1, 1), study=uid(9), series=uid(9, 1))))
    ingest(pre, target, workers=1, progress=False)
    before = {k.sop_instance_uid for k in LocalStore(target).iter_instances()}
    source_uids = {u for k in LocalStore(source_archive).iter_instances() for u in k}

    result = import_bundle(bundle, target)
    assert result.ok, result.summary()
    assert result.cases == [CASE_ID]
    keys = list(LocalStore(target).iter_instances())
    new = {k for k in keys if k.sop_instance_uid not in before}
    assert len(new) == 1
    new_uids = {u for k in new for u in k}
    assert not new_uids & source_uids and not new_uids & before
    case = load_case(result.case_dirs[0])
    assert [s.series_uid for s in case.series] == [next(iter(new)).series_uid]
    assert (result.case_dirs[0] / "LICENCES.md").is_file()
    with Catalog.open(target, readonly=True) as cat:
        assert cat.get_case(CASE_ID).case_id == CASE_ID
    assert verify_archive(target, progress=False).ok
    assert not any((target / "private" / "incoming").iterdir())

    # importing the same bundle again adds no object (same UIDs: the same objects)
    again = import_bundle(bundle, target, cases_dir=tmp_path / "other-cases")
    assert again.ingest.published == 0
    assert len(list(LocalStore(target).iter_instances())) == len(keys)


def _state(archive: Path) -> list[str]:
    return sorted(str(p.relative_to(archive)) for p in archive.rglob("*") if "private" not in p.parts)


def test_tampered_bundle_is_refused_before_anything_is_written(bundle, tmp_path):
    name = _object_name(bundle)
    data = bytearray(zipfile.ZipFile(bundle).read(name))
    data[-100] ^= 0xFF  # one pixel byte
    bad = _rewrite(bundle, tmp_path / "tampered.zip", {name: bytes(data)}, fix_manifest=False)
    with pytest.raises(BundleError, match=r"checksums do not match .*sha256 expected [0-9a-f]{64}, found"):
        import_bundle(bad, tmp_path / "B")
    assert not (tmp_path / "B" / "cases").exists()
    assert not list((tmp_path / "B").rglob("*.dcm"))

    extra = _rewrite(bundle, tmp_path / "extra.zip", {"objects/1.2/1.2.3/1.2.3.4.dcm": b"x"}, fix_manifest=False)
    with pytest.raises(BundleError, match="is not listed in MANIFEST.sha256"):
        import_bundle(extra, tmp_path / "B")
    missing = _rewrite(bundle, tmp_path / "missing.zip", {MANIFEST: None}, fix_manifest=False)
    with pytest.raises(BundleError, match="no MANIFEST.sha256"):
        import_bundle(missing, tmp_path / "B")


def test_bundle_with_planted_phi_is_refused_even_with_matching_checksums(bundle, tmp_path):
    name = _object_name(bundle)
    ds = pydicom.dcmread(io.BytesIO(zipfile.ZipFile(bundle).read(name)))
    ds.PatientName = NAME
    ds.InstitutionName = "Quillfeather Valley Memorial Hospital"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    planted = _rewrite(bundle, tmp_path / "planted.zip", {name: buf.getvalue()}, fix_manifest=True)
    with pytest.raises(BundleError, match="residual-PHI check failed") as info:
        import_bundle(planted, tmp_path / "B")
    message = str(info.value)
    assert "PatientName" in message and "InstitutionName" in message
    assert not find_in_bytes(message.encode(), CANARY_STRINGS), "the refusal must not repeat the PHI"
    assert not list((tmp_path / "B").rglob("*.dcm"))

    # a raw canary object slipped in beside the clean one
    canary = make_canary_ct()
    canary_name = f"objects/{canary.StudyInstanceUID}/{canary.SeriesInstanceUID}/{canary.SOPInstanceUID}.dcm"
    mixed = _rewrite(bundle, tmp_path / "mixed.zip", {canary_name: to_bytes(canary)}, fix_manifest=True)
    with pytest.raises(BundleError, match="Patient Identity Removed must be 'YES'"):
        import_bundle(mixed, tmp_path / "C")
    assert not (tmp_path / "C" / "cases").exists()


def test_hostile_member_names_are_refused_like_ingest_zips(bundle, tmp_path):
    evil = _rewrite(bundle, tmp_path / "evil.zip", {"../evil.dcm": b"DICM"}, fix_manifest=True)
    with pytest.raises(BundleError, match=r"unsafe or unreadable members: \.\./evil\.dcm: zip member name leaves"):
        import_bundle(evil, tmp_path / "B")
    nested = _rewrite(bundle, tmp_path / "nested.zip", {"objects/inner.zip": b"PK\x03\x04rest"}, fix_manifest=True)
    with pytest.raises(BundleError, match="a zip archive inside the zip"):
        import_bundle(nested, tmp_path / "B")
    assert not (tmp_path / "B").exists() or not list((tmp_path / "B").rglob("*.dcm"))


def test_export_refuses_a_case_whose_series_is_not_in_the_archive(source_archive, tmp_path):
    with pytest.raises(BundleError, match=r"series\[0\] \(ge-head-ct\) is not in the archive"):
        export_bundle(["ge-head-ct-gantry-tilt"], tmp_path / "x.zip", source_archive, cases_root=CASES)
    assert not (tmp_path / "x.zip").exists()


def _caselib(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caselib.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_cli_export_then_import(source_archive, tmp_path):
    out = tmp_path / "shared.zip"
    done = _caselib("cases", "export", CASE_ID, str(out), "--archive", str(source_archive), "--cases-dir", str(CASES))
    assert done.returncode == 0, done.stderr
    assert "1 case(s)" in done.stdout and out.is_file()
    imported = _caselib("cases", "import", str(out), "--archive", str(tmp_path / "B"))
    assert imported.returncode == 0, imported.stderr
    assert (tmp_path / "B" / "cases" / CASE_ID / "case.yaml").is_file()
    again = _caselib("cases", "import", str(out), "--archive", str(tmp_path / "B"))
    assert again.returncode == 2 and "already exists" in again.stderr
    usage = _caselib("cases", "export", CASE_ID, "--archive", str(source_archive))
    assert usage.returncode == 2 and "CASE... OUT.zip" in usage.stderr
    # validate/list keep working
    listed = _caselib("cases", "list", str(tmp_path / "B" / "cases"))
    assert listed.returncode == 0 and CASE_ID in listed.stdout
