"""An archive that lives on a DICOMweb server (real Orthanc on loopback): ``caselib ingest --store NODE``.

The objects go to Orthanc only (nothing under ``ARCHIVE/objects``); the catalog,
the private area and ``store.toml`` (no secret) stay in the folder; verify,
re-ingest, the viewer, case bundles and PACS pulls all read through
:func:`caselib.archive.open_store`.
"""
from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from caselib.archive import open_store, read_store_settings, record_store
from caselib.catalog import Catalog
from caselib.cli import main
from caselib.data import fetch, fetch_dataset
from caselib.dicom import read
from caselib.ingest import ingest, verify_archive
from caselib.pacs import PacsConfigError, PacsConnectionError, load_config
from caselib.store import LocalStore
from caselib.store.dicomweb import DicomwebStore

sys.path.insert(0, str(Path(__file__).parent))
from deid_canary import CANARY_STRINGS, find_in_bytes, make_canary_ct, to_bytes  # noqa: E402
from orthanc_support import OrthancServer, free_port, orthanc_available  # noqa: E402

if not orthanc_available():  # a missing Orthanc is a broken set-up, not a reason to skip: CI installs it
    pytest.fail("these tests need Debian orthanc and orthanc-dicomweb (make system-deps)", pytrace=False)

CASES = Path(__file__).resolve().parents[1] / "cases"
CASE_ID = "nema-rg3-leg-cr"    # its series is pydicom-data/RG3_UNCI.dcm (manifest key)
MR = "tcia-gbm-mr"             # one real MR series, 24 slices


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with OrthancServer(tmp_path_factory.mktemp("archive-orthanc"), aet="ARCHIVE", user="keeper",
                       password="Arch1ve-Pw!x") as server:
        yield server


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    with OrthancServer(tmp_path_factory.mktemp("regional-orthanc"), aet="REGIONAL") as server:
        server.upload(to_bytes(make_canary_ct()))
        yield server


@pytest.fixture(scope="module")
def env(orthanc, regional):
    mp = pytest.MonkeyPatch()
    mp.setenv("ARCHIVE_PACS_USER", orthanc.user)
    mp.setenv("ARCHIVE_PACS_PASSWORD", orthanc.password)
    mp.setenv("REGIONAL_USER", regional.user)
    mp.setenv("REGIONAL_PASSWORD", regional.password)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def config_file(orthanc, regional, tmp_path_factory, env):
    path = tmp_path_factory.mktemp("cfg") / "pacs.toml"
    path.write_text("\n".join([
        "[nodes.teaching]", f'dicomweb_url = "{orthanc.dicomweb_url}"', 'username_env = "ARCHIVE_PACS_USER"',
        'password_env = "ARCHIVE_PACS_PASSWORD"', "retries = 2", "backoff = 0.05", "",
        "[nodes.regional]", f'dicomweb_url = "{regional.dicomweb_url}"', 'username_env = "REGIONAL_USER"',
        'password_env = "REGIONAL_PASSWORD"', "retries = 2", "backoff = 0.05", "",
        "[nodes.down]", f'dicomweb_url = "http://127.0.0.1:{free_port()}/dicom-web"', "retries = 2",
        "backoff = 0.05", "connect_timeout = 2", ""]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for f in sorted(Path(fetch_dataset(MR)).rglob("*.dcm")):
        shutil.copy(f, src / f"mr-{f.name}")
    shutil.copy(fetch("pydicom-data/RG3_UNCI.dcm"), src / "rg3.dcm")
    (src / "canary.dcm").write_bytes(to_bytes(make_canary_ct()))
    return src


@pytest.fixture(scope="module")
def archive(source, config_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("remote") / "A"
    status = main(["ingest", str(source), "--archive", str(root), "--store", "teaching", "--config",
                   str(config_file), "--workers", "1", "--no-progress"])
    assert status == 0
    return root


def _n_source(source: Path) -> int:
    return sum(1 for _ in source.iterdir())


def _mr_series_uid(archive: Path) -> str:
    with Catalog.open(archive, readonly=True) as cat:
        (uid,) = cat.connection.execute("SELECT series_uid FROM series WHERE modality = 'MR'").fetchone()
    return str(uid)


def test_objects_live_only_on_orthanc_with_the_catalog_on_top(archive, orthanc, source):
    n = _n_source(source)
    assert not (archive / "objects").exists()
    settings = read_store_settings(archive)
    assert settings.kind == "dicomweb" and settings.node == "teaching"
    text = (archive / "store.toml").read_text()
    assert orthanc.dicomweb_url in text and "ARCHIVE_PACS_PASSWORD" in text and orthanc.password not in text
    assert orthanc.instance_count() == n
    with Catalog.open(archive, readonly=True) as cat:
        rows = cat.connection.execute("SELECT modality, n_instances FROM series ORDER BY modality").fetchall()
        uids = cat.connection.execute("SELECT sop_uid FROM instances").fetchall()
    assert rows == [("CR", 1), ("CT", 1), ("MR", 24)]
    store = open_store(archive)
    assert isinstance(store, DicomwebStore)
    assert sorted(k.sop_instance_uid for k in store.iter_instances()) == sorted(u for (u,) in uids)
    for data in orthanc.instances_bytes():  # the canary's identifiers never reached the server
        assert not find_in_bytes(data, CANARY_STRINGS)
    store.close()


def test_verify_archive_reads_every_object_from_orthanc(archive, source):
    check = verify_archive(archive, progress=False)
    assert check.ok, check.summary()
    assert check.checked == _n_source(source) and not check.without_record


def test_reingest_is_a_no_op(archive, orthanc, source):
    before = orthanc.instance_count()
    report = ingest(source, archive, workers=1, progress=False)
    assert (report.published, report.unchanged, report.quarantined) == (0, 0, 0)
    assert report.skipped_done == _n_source(source)
    assert orthanc.instance_count() == before
    assert not (archive / "objects").exists()


def test_ingest_of_stored_objects_again_finds_them_unchanged(archive, source, tmp_path):
    """A second archive folder sharing the server and secret: same UIDs, same content -> 'unchanged'."""
    twin = tmp_path / "twin"
    shutil.copytree(archive, twin, ignore=shutil.ignore_patterns("journal.sqlite*"))
    report = ingest(source, twin, workers=1, progress=False)
    assert report.published == 0 and report.unchanged == _n_source(source), report.summary()


def test_viewer_reads_the_pixels_from_orthanc(archive):
    from caselib.ui import Viewer

    original = read(fetch_dataset(MR)).only_series()
    v = Viewer.from_archive(archive, _mr_series_uid(archive))
    assert v.n_slices == len(original.frames) == 24
    for i in (0, 11, 23):
        assert np.array_equal(v.source.modality_slice(i), original.frame(i))
    sent = v.source.raw_slice(11)  # what the browser receives: raw values, slope, intercept
    values = np.frombuffer(sent.payload(), dtype=sent.values.dtype).reshape(sent.values.shape)
    assert np.array_equal(values * sent.slope + sent.intercept, original.frame(11))
    assert not (archive / "objects").exists()


def test_bundle_export_from_an_archive_on_orthanc(archive, tmp_path):
    from caselib.cases.bundle import export_bundle, import_bundle

    result = export_bundle([CASE_ID], tmp_path / "case.zip", archive, cases_root=CASES)
    assert result.objects == 1 and result.cases == [CASE_ID]
    with zipfile.ZipFile(result.path) as zf:
        (name,) = [n for n in zf.namelist() if n.startswith("objects/")]
        ds = pydicom.dcmread(zf.open(name))
    assert np.array_equal(ds.pixel_array, pydicom.dcmread(fetch("pydicom-data/RG3_UNCI.dcm")).pixel_array)
    imported = import_bundle(result.path, tmp_path / "B", cases_dir=tmp_path / "cases", workers=1)
    assert imported.ok and imported.ingest.published == 1, imported.summary()
    assert len(list(LocalStore(tmp_path / "B").iter_instances())) == 1


def test_pacs_pull_into_an_archive_on_orthanc(config_file, regional, orthanc, tmp_path, capsys):
    before = orthanc.instance_count()
    root = tmp_path / "P"
    status = main(["pacs", "pull", "regional", "--archive", str(root), "--store", "teaching", "--config",
                   str(config_file), "--accession", "ACC99887766", "--no-progress"])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "1 new" in out.out
    assert not (root / "objects").exists() and read_store_settings(root).node == "teaching"
    assert orthanc.instance_count() == before + 1
    assert verify_archive(root, progress=False).ok


def test_store_settings_refuse_moving_an_archive(config_file, archive, tmp_path):
    config = load_config(config_file)
    assert record_store(archive, config.node("teaching")).node == "teaching"  # the same again: no-op
    with pytest.raises(PacsConfigError, match="already keeps its objects on DICOMweb node 'teaching'"):
        record_store(archive, config.node("regional"))
    local = tmp_path / "L"
    LocalStore(local).put(to_bytes(make_canary_ct()))
    with pytest.raises(PacsConfigError, match="already keeps objects in .*objects; it cannot move"):
        record_store(local, config.node("teaching"))
    assert isinstance(open_store(local), LocalStore)


def test_a_server_that_is_down_is_named_not_a_traceback(config_file, source, orthanc, archive, tmp_path, capsys):
    # a node nobody answers on
    status = main(["ingest", str(source), "--archive", str(tmp_path / "D"), "--store", "down", "--config",
                   str(config_file), "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "caselib ingest: error:" in err and "PACS 'down'" in err and "connection failed" in err
    assert not (tmp_path / "D" / "objects").exists()
    assert not any((tmp_path / "D" / "private" / "quarantine").iterdir())  # nothing quarantined for it
    # the archive's own Orthanc stopped: verify, the viewer and ingest say which node
    orthanc.stop()
    try:
        assert main(["verify", str(archive), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "PACS 'teaching'" in err and orthanc.dicomweb_url in err and "Traceback" not in err
        from caselib.ui import Viewer

        with pytest.raises(PacsConnectionError, match="PACS 'teaching'"):
            Viewer.from_archive(archive, _mr_series_uid(archive))
        with pytest.raises(PacsConnectionError, match="PACS 'teaching'"):
            ingest(source, archive, workers=1, progress=False)
    finally:
        orthanc.start()
    assert verify_archive(archive, progress=False).ok


def test_the_store_layer_never_imports_the_pacs_layer(archive):
    """Dependency direction: caselib.store (and opening an archive's DICOMweb store) loads nothing of caselib.pacs."""
    import subprocess

    code = ("import sys; from caselib.archive import open_store; s = open_store(sys.argv[1]); "
            "import caselib.store.dicomweb, caselib.store._http; "
            "print(type(s).__name__, sorted(m for m in sys.modules if m.startswith('caselib.pacs')))")
    out = subprocess.run([sys.executable, "-c", code, str(archive)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["DicomwebStore", "[]"]
