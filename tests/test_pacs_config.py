"""PACS layer without a PACS: queries, retries with backoff, timeouts, secrets kept out of messages."""
from __future__ import annotations

import socket
import threading

import pytest

from caselib.pacs import (
    Credentials,
    PacsConfig,
    PacsConfigError,
    PacsConnectionError,
    RetryPolicy,
    StudyQuery,
    redact,
)
from caselib.pacs.dicomweb import DicomwebConnection
from caselib.pacs.dimse import echo
from caselib.pacs.retry import call_with_retries


def test_study_query_to_qido_and_cfind():
    q = StudyQuery(patient_id="P1", accession="A9", date_from="2020-01-02", date_to="20200131", modality="ct",
                   description="chest")
    assert q.to_qido() == {"PatientID": "P1", "AccessionNumber": "A9", "StudyDate": "20200102-20200131",
                           "ModalitiesInStudy": "CT", "StudyDescription": "*chest*"}
    ident = q.to_identifier()
    assert ident.QueryRetrieveLevel == "STUDY" and ident.StudyDate == "20200102-20200131"
    assert ident.NumberOfStudyRelatedInstances == ""  # a return key
    assert StudyQuery(date_to="2020-05-01").to_qido() == {"StudyDate": "-20200501"}
    with pytest.raises(ValueError, match="date_from 20200201 is after date_to 20200101"):
        StudyQuery(date_from="2020-02-01", date_to="2020-01-01")
    with pytest.raises(ValueError, match="expected a real calendar date, found '2020-02-30'"):
        StudyQuery(date_from="2020-02-30")
    with pytest.raises(ValueError, match="without backslash"):
        StudyQuery(patient_id="A\\B")


def test_retries_back_off_exponentially_and_only_for_transient_failures():
    waits: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise PacsConnectionError("reset")
        return "ok"

    assert call_with_retries(flaky, RetryPolicy(attempts=4, backoff=0.5), "x", sleep=waits.append) == "ok"
    assert waits == [0.5, 1.0]
    waits.clear()
    with pytest.raises(PacsConnectionError, match=r"reset \(gave up after 3 attempt\(s\)\)"):
        call_with_retries(lambda: (_ for _ in ()).throw(PacsConnectionError("reset")), RetryPolicy(3, 0.25),
                          "x", sleep=waits.append)
    assert waits == [0.25, 0.5]
    with pytest.raises(PacsConfigError):  # not transient: no retry
        call_with_retries(lambda: (_ for _ in ()).throw(PacsConfigError("bad")), RetryPolicy(3), "x",
                          sleep=waits.append)
    assert waits == [0.25, 0.5]


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join()
    for c in held:
        c.close()
    srv.close()


def test_a_server_that_never_answers_times_out_and_is_retried(silent_server):
    password = "Silent-Secret-99"
    cfg = PacsConfig.from_dict({"nodes": {"s": {"dicomweb_url": f"http://127.0.0.1:{silent_server}/dicom-web",
                                                "username_env": "U", "password_env": "P", "ae_title": "SILENT",
                                                "port": silent_server, "timeout": 0.3, "connect_timeout": 0.3,
                                                "retries": 2, "backoff": 0.01}}})
    node = cfg.node("s")
    with pytest.raises(PacsConnectionError, match=r"no answer within 0.3 s \(gave up after 2 attempt\(s\)\)") as info:
        DicomwebConnection(node, environ={"U": "u", "P": password}).search_studies(StudyQuery())
    assert password not in str(info.value)
    with pytest.raises(PacsConnectionError, match="no association"):
        echo(node)


def test_credentials_and_redaction():
    creds = Credentials("teacher", "pa ss/word")
    assert "pa ss/word" not in repr(creds) and "pa ss/word" not in str(creds)
    text = f"failed for {creds.password} (quoted pa%20ss%2Fword) token {creds.secrets()[0]}"
    cleaned = redact(text, creds.secrets())
    assert "pa ss/word" not in cleaned and "pa%20ss%2Fword" not in cleaned and "***" in cleaned
    import base64

    assert base64.b64encode(b"teacher:pa ss/word").decode() in creds.secrets()


def test_pacs_modules_load_no_widget_or_dataframe_library():
    import subprocess
    import sys

    code = ("import sys, caselib.pacs, caselib.store.dicomweb, caselib.cases.bundle, caselib.pacs.dicomweb; "
            "print(sorted(m for m in ('ipywidgets', 'anywidget', 'pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_raw_objects_left_by_a_killed_run_are_wiped_by_the_next(tmp_path):
    import os
    import subprocess
    import sys

    from caselib.pacs.pull import incoming_dir, wipe_stale_incoming

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited: like a pull killed with -9
    incoming = incoming_dir(tmp_path / "archive")
    assert oct(incoming.stat().st_mode & 0o777) == "0o700"
    stale = incoming / f"pull-{dead_pid}-abc"
    (stale / "00000").mkdir(parents=True)
    (stale / "00000" / "raw.dcm").write_bytes(b"raw PHI")
    alive = incoming / f"recv-{os.getppid()}-def"  # a receiver of a running process keeps its folder
    alive.mkdir()
    removed = wipe_stale_incoming(tmp_path / "archive")
    assert removed == [stale] and not stale.exists() and alive.exists()
