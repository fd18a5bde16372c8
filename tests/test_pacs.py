"""PACS connectivity against real Orthanc servers on loopback (DICOMweb + DIMSE, auth on).

A "regional PACS" Orthanc holds real CT studies from the data manifest
(``tcia-covid-ct-followup``: 6 patients x 2 studies) and the PHI canary objects;
a "teaching PACS" Orthanc receives what caselib publishes.  Every connection is
to 127.0.0.1.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pydicom
import pytest

from caselib.catalog import Catalog
from caselib.data import fetch_dataset
from caselib.ingest import verify_archive
from caselib.pacs import (
    AssociationRejectedError,
    PacsAuthError,
    PacsConfig,
    PacsConnectionError,
    PacsConfigError,
    Receiver,
    StudyQuery,
    load_config,
    pull,
    push,
)
from caselib.pacs.dicomweb import DicomwebConnection
from caselib.pacs.dimse import echo, find_studies, store_files
from caselib.store import LocalStore

sys.path.insert(0, str(Path(__file__).parent))
from deid_canary import CANARY_STRINGS, find_in_bytes, make_canary_ct, make_canary_sr, to_bytes  # noqa: E402
from orthanc_support import OrthancServer, free_port, orthanc_available  # noqa: E402

if not orthanc_available():  # a missing Orthanc is a broken set-up, not a reason to skip: CI installs it
    pytest.fail("these tests need Debian orthanc and orthanc-dicomweb (make system-deps)", pytrace=False)

PATIENT_WITH_TWO = "A002304"
N_COVID = 12


def _covid_files() -> list[Path]:
    return sorted(Path(fetch_dataset("tcia-covid-ct-followup")).rglob("*.dcm"))


@pytest.fixture(scope="module")
def receiver_port():
    return free_port()


@pytest.fixture(scope="module")
def regional(tmp_path_factory, receiver_port):
    server = OrthancServer(tmp_path_factory.mktemp("regional"), aet="REGIONAL",
                           modalities={"CASELIB": ("127.0.0.1", receiver_port)})
    server.start()
    try:
        server.upload_files(_covid_files())
        server.upload(to_bytes(make_canary_ct()))
        server.upload(to_bytes(make_canary_sr()))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def teaching(tmp_path_factory):
    server = OrthancServer(tmp_path_factory.mktemp("teaching"), aet="TEACHING", user="publisher",
                           password="Teach1ng-Pw!", modalities={"CASELIB": ("127.0.0.1", free_port())})
    with server:
        yield server


def _config(regional: OrthancServer, teaching: OrthancServer | None, receiver_port: int, tmp: Path,
            **overrides: object) -> Path:
    node = {"dicomweb_url": regional.dicomweb_url, "username_env": "REGIONAL_USER",
            "password_env": "REGIONAL_PASSWORD", "ae_title": "REGIONAL", "port": regional.dicom_port,
            "timeout": 10, "retries": 2, "backoff": 0.05}
    node.update(overrides)
    lines = ["[local]", 'ae_title = "CASELIB"', f"port = {receiver_port}", "", "[nodes.regional]"]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in node.items()]
    if teaching is not None:
        lines += ["", "[nodes.teaching]", f'dicomweb_url = "{teaching.dicomweb_url}"',
                  'username_env = "TEACHING_USER"', 'password_env = "TEACHING_PASSWORD"', 'ae_title = "TEACHING"',
                  f"port = {teaching.dicom_port}", "retries = 2", "backoff = 0.05"]
    path = tmp / "pacs.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def env(regional, teaching, monkeypatch):
    monkeypatch.setenv("REGIONAL_USER", regional.user)
    monkeypatch.setenv("REGIONAL_PASSWORD", regional.password)
    monkeypatch.setenv("TEACHING_USER", teaching.user)
    monkeypatch.setenv("TEACHING_PASSWORD", teaching.password)
    return dict(os.environ)


@pytest.fixture
def config(regional, teaching, receiver_port, tmp_path, env):
    return load_config(_config(regional, teaching, receiver_port, tmp_path))


def _archive_bytes(archive: Path) -> list[bytes]:
    return [p.read_bytes() for p in (archive / "objects").rglob("*.dcm")]


def _assert_deidentified_and_complete(archive: Path, n_expected: int) -> None:
    store = LocalStore(archive)
    keys = list(store.iter_instances())
    assert len(keys) == n_expected
    assert len({k.sop_instance_uid for k in keys}) == n_expected
    check = verify_archive(archive, progress=False)
    assert check.ok, check.summary()
    for data in _archive_bytes(archive):
        assert not find_in_bytes(data, CANARY_STRINGS)
        assert b"A002304" not in data and b"1.3.6.1.4.1.14519.5.2.1.99.1071" not in data
    with Catalog.open(archive, readonly=True) as cat:
        assert cat.connection.execute("SELECT COUNT(*) FROM instances").fetchone()[0] == n_expected
    assert not any((archive / "private" / "incoming").iterdir()), "raw objects must not outlive the pull"


# --------------------------------------------------------------------------- config


def test_config_refuses_credentials_in_the_file_and_names_missing_variables(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[nodes.x]\ndicomweb_url = "http://127.0.0.1:1/dicom-web"\npassword = "hunter2"\n')
    with pytest.raises(PacsConfigError, match="credentials are never read from the file") as info:
        load_config(bad)
    assert "hunter2" not in str(info.value)
    with pytest.raises(PacsConfigError, match="must not carry a user or password"):
        PacsConfig.from_dict({"nodes": {"x": {"dicomweb_url": "http://u:pw@127.0.0.1:1/dicom-web"}}})
    cfg = PacsConfig.from_dict({"nodes": {"x": {"dicomweb_url": "http://127.0.0.1:1/dicom-web",
                                                "username_env": "NO_SUCH_USER_VAR", "password_env": "NO_SUCH_PW_VAR"}}})
    with pytest.raises(PacsConfigError, match="NO_SUCH_USER_VAR .* is not set"):
        cfg.node("x").credentials({})
    with pytest.raises(PacsConfigError, match="no PACS node named 'y'; configured: x"):
        cfg.node("y")
    yml = tmp_path / "p.yaml"
    yml.write_text("nodes:\n  d:\n    ae_title: PACS\n    port: 104\n")
    assert load_config(yml).node("d").require_dimse() == ("PACS", "127.0.0.1", 104)


# --------------------------------------------------------------------------- query


def test_qido_and_cfind_find_the_same_studies_by_every_key(config, env, regional):
    node = config.node("regional")
    queries = {
        "all": (StudyQuery(), N_COVID + 1),
        "patient": (StudyQuery(patient_id=PATIENT_WITH_TWO), 2),
        "accession": (StudyQuery(accession="ACC99887766"), 1),
        "dates": (StudyQuery(date_from="1901-01-01", date_to="1901-12-31"), 5),
        "modality": (StudyQuery(modality="SR"), 1),
        "description": (StudyQuery(description="PULMONARY"), 2),
    }
    with DicomwebConnection(node, environ=env) as conn:
        for name, (query, n) in queries.items():
            web = {m.study_uid for m in conn.search_studies(query)}
            dimse = {m.study_uid for m in find_studies(node, query, config.local)}
            assert len(web) == n, name
            assert web == dimse, name
        canary = conn.search_studies(StudyQuery(accession="ACC99887766"))[0]
        assert canary.n_instances == 2 and set(canary.modalities) == {"CT", "SR"}


def test_echo_and_wrong_ae_title(config, env):
    node = config.node("regional")
    echo(node, config.local)
    wrong_called = PacsConfig.from_dict({"nodes": {"r": {"ae_title": "NOT_REGIONAL", "port": node.port,
                                                         "retries": 1}}}).node("r")
    with pytest.raises(AssociationRejectedError, match="rejected the association.*'NOT_REGIONAL'"):
        echo(wrong_called, config.local)
    unknown_caller = PacsConfig.from_dict({"local": {"ae_title": "STRANGER"},
                                           "nodes": {"r": {"ae_title": "REGIONAL", "port": node.port,
                                                           "retries": 1}}})
    with pytest.raises(AssociationRejectedError, match="'STRANGER' is a known peer"):
        find_studies(unknown_caller.node("r"), StudyQuery(), unknown_caller.local)


# --------------------------------------------------------------------------- pull


def test_pull_dicomweb_is_deidentified_complete_and_idempotent(config, env, tmp_path):
    archive = tmp_path / "archive"
    report = pull(config.node("regional"), archive, query=StudyQuery(), via="dicomweb", config=config,
                  progress=False)
    assert report.ok, report.summary()
    assert len(report.studies) == N_COVID + 1 and report.retrieved == N_COVID + 2
    _assert_deidentified_and_complete(archive, N_COVID + 2)
    with Catalog.open(archive, readonly=True) as cat:
        assert cat.connection.execute("SELECT COUNT(*) FROM studies").fetchone()[0] == N_COVID + 1
        assert cat.connection.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 7
    # the pull report (private) names the PACS's studies; nothing of it is outside private/
    assert list((archive / "private" / "reports").glob("pull-*.json"))

    again = pull(config.node("regional"), archive, query=StudyQuery(), via="dicomweb", config=config, progress=False)
    assert {s.status for s in again.studies} == {"already-pulled"}
    forced = pull(config.node("regional"), archive, query=StudyQuery(patient_id=PATIENT_WITH_TWO), via="dicomweb",
                  config=config, force=True, progress=False)
    assert [s.status for s in forced.studies] == ["pulled", "pulled"]
    assert forced.published == 0 and forced.skipped_done == 2
    _assert_deidentified_and_complete(archive, N_COVID + 2)


@pytest.mark.parametrize("via", ["move", "get"])
def test_pull_dimse_is_deidentified_and_complete(config, env, tmp_path, via):
    archive = tmp_path / "archive"
    report = pull(config.node("regional"), archive, query=StudyQuery(), via=via, config=config, progress=False)
    assert report.ok, report.summary()
    assert report.retrieved == N_COVID + 2
    _assert_deidentified_and_complete(archive, N_COVID + 2)


@pytest.mark.parametrize("via", ["dicomweb", "move"])
def test_unknown_study_is_reported_per_study(config, env, tmp_path, regional, via):
    archive = tmp_path / "archive"
    known = next(u for u in regional.study_uids() if u.startswith("1.3.6."))  # a one-slice covid study
    report = pull(config.node("regional"), archive, study_uids=["1.2.826.0.1.3680043.8.498.404", known], via=via,
                  config=config, progress=False)
    assert [s.status for s in report.studies] == ["failed", "pulled"]
    assert "no study 1.2.826.0.1.3680043.8.498.404" in report.studies[0].error
    assert not report.ok
    print(report)  # shown if the next check fails (it failed once on a machine at load 20: see DEVELOPERS.md)
    _assert_deidentified_and_complete(archive, 1)


def test_bad_credentials_fail_without_showing_the_password(config, env, tmp_path, monkeypatch, caplog, capfd):
    wrong = "Wr0ng-Passw0rd-Zebra"
    monkeypatch.setenv("REGIONAL_PASSWORD", wrong)
    caplog.set_level(logging.DEBUG)
    node = config.node("regional")
    with pytest.raises(PacsAuthError, match="refused the credentials \\(HTTP 401\\).*REGIONAL_PASSWORD") as info:
        DicomwebConnection(node).search_studies(StudyQuery())
    report = pull(node, tmp_path / "archive", study_uids=["1.2.3"], via="dicomweb", config=config, progress=False)
    assert report.studies[0].status == "failed" and "HTTP 401" in report.studies[0].error
    texts = [str(info.value), repr(info.value), report.to_json(), caplog.text, *capfd.readouterr()]
    texts += [p.read_text() for p in (tmp_path / "archive" / "private" / "reports").glob("*.json")]
    import base64

    token = base64.b64encode(f"{node.credentials().user}:{wrong}".encode()).decode()
    for text in texts:
        assert wrong not in text and token not in text
    assert not list((tmp_path / "archive" / "objects").rglob("*.dcm"))


def test_password_never_in_logs_of_a_successful_pull(config, env, tmp_path, caplog, capfd, regional):
    import base64

    caplog.set_level(logging.DEBUG)
    report = pull(config.node("regional"), tmp_path / "archive", query=StudyQuery(patient_id=PATIENT_WITH_TWO),
                  via="dicomweb", config=config, progress=False)
    assert report.ok
    out, err = capfd.readouterr()
    token = base64.b64encode(f"{regional.user}:{regional.password}".encode()).decode()
    assert "GET" in caplog.text  # the client's debug log was captured
    for text in (caplog.text, out, err, report.to_json(), repr(config), repr(config.node("regional").credentials())):
        assert regional.password not in text and token not in text


def _fresh_regional(tmp_path: Path, receiver_port: int) -> OrthancServer:
    server = OrthancServer(tmp_path / "orthanc", aet="REGIONAL", modalities={"CASELIB": ("127.0.0.1", receiver_port)})
    server.start()
    lung = sorted(Path(fetch_dataset("tcia-lung-ct")).rglob("*.dcm"))[:12]
    server.upload_files(lung + _covid_files()[:4])
    return server


def test_orthanc_stopped_mid_pull_then_rerun_completes_without_duplicates(tmp_path, receiver_port, monkeypatch):
    server = _fresh_regional(tmp_path, receiver_port)
    try:
        monkeypatch.setenv("REGIONAL_USER", server.user)
        monkeypatch.setenv("REGIONAL_PASSWORD", server.password)
        config = load_config(_config(server, None, receiver_port, tmp_path))
        node = config.node("regional")
        archive = tmp_path / "archive"
        lung_study = str(pydicom.dcmread(sorted(Path(fetch_dataset("tcia-lung-ct")).rglob("*.dcm"))[0],
                                         stop_before_pixels=True).StudyInstanceUID)
        others = [u for u in server.study_uids() if u != lung_study]
        assert len(others) == 4
        studies = [others[0], lung_study, *others[1:]]  # the 12-slice study second
        # stop Orthanc in the middle of the second study's series (after 3 of its 12 instances arrived)
        import caselib.store._http as dw  # where the WADO-RS writer lives (the shared connection)

        real_write = dw._write_part10
        per_folder: dict[str, int] = {}

        def write_then_crash(ds, folder):
            path = real_write(ds, folder)
            per_folder[str(folder)] = per_folder.get(str(folder), 0) + 1
            if per_folder[str(folder)] == 3:  # only the 12-slice series gets there
                server.kill()
                import requests

                raise requests.exceptions.ChunkedEncodingError("connection broken: Orthanc went away")
            return path

        monkeypatch.setattr(dw, "_write_part10", write_then_crash)
        report = pull(node, archive, study_uids=studies, via="dicomweb", config=config, progress=False)
        statuses = [s.status for s in report.studies]
        assert statuses[0] == "pulled" and set(statuses[1:]) == {"failed"}, report.summary()
        assert "connection failed" in report.studies[1].error and "gave up after 2 attempt(s)" in report.studies[1].error
        assert not any((archive / "private" / "incoming").iterdir())
        first = len(list(LocalStore(archive).iter_instances()))
        assert first == report.studies[0].retrieved

        monkeypatch.setattr(dw, "_write_part10", real_write)
        server.start()
        rerun = pull(node, archive, study_uids=studies, via="dicomweb", config=config, progress=False)
        assert rerun.ok, rerun.summary()
        assert [s.status for s in rerun.studies] == ["already-pulled"] + ["pulled"] * 4
        assert rerun.studies[1].retrieved == 12
        _assert_deidentified_and_complete(archive, 16)
    finally:
        server.stop()


def test_failure_after_ingest_started_then_rerun_has_no_duplicates(tmp_path, receiver_port, monkeypatch):
    """A crash after part of a study was stored (before the pull recorded it) converges on re-run."""
    server = _fresh_regional(tmp_path, receiver_port)
    try:
        monkeypatch.setenv("REGIONAL_USER", server.user)
        monkeypatch.setenv("REGIONAL_PASSWORD", server.password)
        config = load_config(_config(server, None, receiver_port, tmp_path))
        archive = tmp_path / "archive"
        import caselib.ingest as ingest_module

        real_ingest = ingest_module.ingest

        def ingest_then_crash(*args, **kwargs):
            real_ingest(*args, **kwargs)
            raise RuntimeError("simulated crash after storing")

        monkeypatch.setattr(ingest_module, "ingest", ingest_then_crash)
        report = pull(config.node("regional"), archive, query=StudyQuery(), via="move", config=config, progress=False)
        assert {s.status for s in report.studies} == {"failed"}
        assert all("simulated crash" in s.error for s in report.studies)
        assert not any((archive / "private" / "incoming").iterdir())
        monkeypatch.setattr(ingest_module, "ingest", real_ingest)
        rerun = pull(config.node("regional"), archive, query=StudyQuery(), via="move", config=config, progress=False)
        assert rerun.ok
        assert rerun.published == 0 and rerun.skipped_done == 16  # all stored by the crashed run
        _assert_deidentified_and_complete(archive, 16)
    finally:
        server.stop()


# --------------------------------------------------------------------------- push and receive


@pytest.fixture(scope="module")
def pulled_archive(tmp_path_factory, regional, teaching, receiver_port):
    tmp = tmp_path_factory.mktemp("pulled")
    environ = {"REGIONAL_USER": regional.user, "REGIONAL_PASSWORD": regional.password}
    config = PacsConfig.from_dict({"nodes": {"regional": {"dicomweb_url": regional.dicomweb_url,
                                                          "username_env": "REGIONAL_USER",
                                                          "password_env": "REGIONAL_PASSWORD"}}})
    report = pull(config.node("regional"), tmp / "archive", query=StudyQuery(), config=config, environ=environ,
                  progress=False)
    assert report.ok
    return tmp / "archive"


def test_push_dicomweb_to_the_teaching_pacs(config, env, pulled_archive, teaching):
    teaching.clear()
    report = push(pulled_archive, config.node("teaching"), via="dicomweb", progress=False)
    assert report.ok, report.summary()
    store = LocalStore(pulled_archive)
    ours = {k.sop_instance_uid for k in store.iter_instances()}
    assert teaching.instance_count() == len(ours) == N_COVID + 2
    arrived = teaching.instances_bytes()
    assert {str(pydicom.dcmread(__import__("io").BytesIO(b)).SOPInstanceUID) for b in arrived} == ours
    for data in arrived:
        assert not find_in_bytes(data, CANARY_STRINGS)
        assert b"A002304" not in data
    again = push(pulled_archive, config.node("teaching"), via="dicomweb", progress=False)
    assert again.ok and teaching.instance_count() == len(ours)


def test_push_dimse_chosen_study_and_refusals(config, env, pulled_archive, teaching):
    teaching.clear()
    store = LocalStore(pulled_archive)
    study = next(iter(store.iter_instances())).study_uid
    n_in_study = len(list(store.iter_instances(study)))
    report = push(pulled_archive, config.node("teaching"), studies=[study], via="dimse", local=config.local,
                  progress=False)
    assert report.ok, report.summary()
    assert teaching.instance_count() == n_in_study
    assert teaching.study_uids() == [study]
    # a caller the teaching PACS does not know is refused, per study, with the reason
    stranger = PacsConfig.from_dict({"local": {"ae_title": "STRANGER"},
                                     "nodes": {"t": {"ae_title": "TEACHING", "port": teaching.dicom_port,
                                                     "retries": 1}}})
    refused = push(pulled_archive, stranger.node("t"), studies=[study], via="dimse", local=stranger.local,
                   progress=False)
    assert [s.status for s in refused.studies] == ["failed"] and "rejected the association" in refused.studies[0].error


def test_receiver_ingests_what_orthanc_sends_and_refuses_unknown_callers(tmp_path, regional, receiver_port):
    archive = tmp_path / "archive"
    ids = regional.request("GET", "/instances")
    with Receiver(archive, ae_title="CASELIB", allowed_ae=["REGIONAL"], port=receiver_port) as receiver:
        regional.request("POST", "/modalities/CASELIB/store", __import__("json").dumps(ids).encode())
        receiver.wait_idle()
        for _ in range(100):  # the association ends (and is ingested) right after the store job
            receiver.wait_idle()
            if sum(r.published + r.quarantined for r in receiver.reports) >= len(ids):
                break
            threading.Event().wait(0.05)
    assert receiver.scp.received == len(ids) == N_COVID + 2
    _assert_deidentified_and_complete(archive, N_COVID + 2)

    other = tmp_path / "other"
    with Receiver(other, ae_title="CASELIB", allowed_ae=["SOMEONE_ELSE"], port=receiver_port) as receiver:
        with pytest.raises(Exception):  # Orthanc's store job fails: association rejected
            regional.request("POST", "/modalities/CASELIB/store", __import__("json").dumps(ids[:1]).encode())
        assert receiver.scp.received == 0
    assert not list(other.rglob("*.dcm"))
    with pytest.raises(ValueError, match="at least one allowed calling AE title"):
        Receiver(other, allowed_ae=[])


def test_store_files_reports_each_refused_object(config, env, teaching, tmp_path):
    bad = tmp_path / "bad.dcm"
    ds = make_canary_ct()
    ds.save_as(bad, enforce_file_format=True)
    stored, failed = store_files(config.node("teaching"), [bad], config.local)
    assert stored == [bad] and failed == []  # Orthanc takes what it is sent: push only de-identified archives
    teaching.clear()


# --------------------------------------------------------------------------- command line


def _caselib(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caselib.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_cli_echo_query_pull_push(regional, teaching, receiver_port, tmp_path, env):
    cfg = str(_config(regional, teaching, receiver_port, tmp_path))
    assert _caselib("pacs", "echo", "regional", "--config", cfg, "--via", "dimse", env=env).returncode == 0
    web = _caselib("pacs", "echo", "regional", "--config", cfg, env=env)
    assert web.returncode == 0 and "DICOMweb answers" in web.stdout
    query = _caselib("pacs", "query", "regional", "--config", cfg, "--patient-id", PATIENT_WITH_TWO, env=env)
    assert query.returncode == 0 and query.stdout.count(PATIENT_WITH_TWO) == 2
    archive = tmp_path / "archive"
    pulled = _caselib("pacs", "pull", "regional", "--config", cfg, "--archive", str(archive), "--via", "move",
                      "--patient-id", PATIENT_WITH_TWO, env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "2 studies (2 pulled)" in pulled.stdout
    teaching.clear()
    pushed = _caselib("pacs", "push", "teaching", "--config", cfg, "--archive", str(archive), env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert teaching.instance_count() == 2
    teaching.clear()

    bad_env = {**env, "REGIONAL_PASSWORD": "Not-The-Password-42"}
    denied = _caselib("pacs", "query", "regional", "--config", cfg, env=bad_env)
    assert denied.returncode == 2 and "refused the credentials" in denied.stderr
    assert "Not-The-Password-42" not in denied.stderr + denied.stdout
    missing = _caselib("pacs", "query", "nowhere", "--config", cfg, env=env)
    assert missing.returncode == 2 and "no PACS node named 'nowhere'" in missing.stderr


def test_cli_receive_runs_until_terminated(regional, tmp_path, env):
    port = free_port()
    archive = tmp_path / "archive"
    proc = subprocess.Popen([sys.executable, "-m", "caselib.cli", "receive", "--archive", str(archive), "--port",
                             str(port), "--allow", "REGIONAL"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line and "REGIONAL" in line
        # the receiver is a real C-STORE SCP: send one object from Python as the allowed AE
        from pynetdicom import AE

        ae = AE(ae_title="REGIONAL")
        ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1")
        assoc = ae.associate("127.0.0.1", port, ae_title="CASELIB")
        assert assoc.is_established
        status = assoc.send_c_store(make_canary_ct())
        assoc.release()
        assert status.Status == 0
        intruder = AE(ae_title="INTRUDER")
        intruder.add_requested_context("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1")
        rejected = intruder.associate("127.0.0.1", port, ae_title="CASELIB")
        assert rejected.is_rejected
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "1 objects received, 1 new in the archive" in out and "1 associations refused" in out
    _assert_deidentified_and_complete(archive, 1)


def test_push_refuses_an_archive_whose_phi_scan_fails(config, env, pulled_archive, teaching, tmp_path):
    import shutil

    from caselib.pacs import PacsError

    archive = tmp_path / "leaky"
    shutil.copytree(pulled_archive, archive)
    victim = next((archive / "objects").rglob("*.dcm"))
    ds = pydicom.dcmread(victim)
    ds.ImageComments = "call the ward on (555) 867-5309"
    ds.save_as(victim, enforce_file_format=True)
    teaching.clear()
    with pytest.raises(PacsError, match="residual-PHI scan .* found identifiers in 1 objects"):
        push(archive, config.node("teaching"), progress=False)
    assert teaching.instance_count() == 0


def test_cli_push_chosen_case(regional, teaching, receiver_port, tmp_path, env):
    import shutil

    from caselib.data import fetch
    from caselib.ingest import ingest

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(fetch("pydicom-data/RG3_UNCI.dcm"), src / "rg3.dcm")
    archive = tmp_path / "archive"
    ingest(src, archive, workers=1, progress=False)
    (src / "ct.dcm").write_bytes(to_bytes(make_canary_ct()))
    ingest(src, archive, workers=1, progress=False)  # a second study the case does not use
    assert len(list(LocalStore(archive).iter_instances())) == 2
    cfg = str(_config(regional, teaching, receiver_port, tmp_path))
    cases = str(Path(__file__).resolve().parents[1] / "cases")
    teaching.clear()
    done = _caselib("pacs", "push", "teaching", "--config", cfg, "--archive", str(archive), "--case",
                    "nema-rg3-leg-cr", "--cases-dir", cases, "--via", "dimse", "--no-progress", env=env)
    assert done.returncode == 0, done.stderr
    assert "pushed 1 of 1 objects" in done.stdout
    assert teaching.instance_count() == 1
    teaching.clear()
