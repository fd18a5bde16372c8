"""kill -9 convergence: an interrupted ingest, run again, builds the archive an uninterrupted run builds.

The source is real data (``tcia-lung-ct``: 30 slices of one patient, then
``tcia-covid-ct-followup``: 6 patients x 2 dated studies) plus two bad files,
copied into ``tmp_path``.  Every archive of this module starts with the SAME
secret (``ArchiveLayout.secret``), so UIDs, pseudonyms and date shifts can be
compared byte for byte.

Each scenario starts ``ingest`` in a child process (its own process group, so
worker processes die with it), kills the group with SIGKILL after a delay or
once a number of objects is stored, runs ``ingest`` again to completion and
compares with the reference run: object paths and sha256, catalog rows (row
ids replaced by UIDs), pseudonym registry, quarantine, and no temporary files.
What the test asserts does not depend on timing; when a run finished before
the kill, the scenario still counts (it then checks plain idempotence).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from caselib.archive import ArchiveLayout
from caselib.deid import load_secret
from caselib.ingest import Quarantine, ingest
from dicom_fixtures import fetch_dataset_or_skip
from ingest_fixtures import (
    leftover_temp_files,
    make_ct,
    snapshot,
    to_part10,
    uid,
)

N_LUNG, N_COVID, N_BAD = 30, 12, 2
N_OBJECTS = N_LUNG + N_COVID

_CHILD = (
    "import sys, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "from caselib.ingest import ingest\n"
    "ingest(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]), progress=False)\n"
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lung CT (1 patient) first, then the covid pairs (6 patients), then two bad files."""
    lung = fetch_dataset_or_skip("tcia-lung-ct")
    covid = fetch_dataset_or_skip("tcia-covid-ct-followup")
    src = tmp_path_factory.mktemp("resume") / "src"
    (src / "1-lung").mkdir(parents=True)
    for p in sorted(lung.glob("*.dcm")):
        shutil.copy2(p, src / "1-lung" / p.name)
    shutil.copytree(covid, src / "2-covid")
    bad = src / "3-bad"
    bad.mkdir()
    (bad / "random.bin").write_bytes(bytes((i * 73 + 11) % 251 for i in range(3000)))
    (bad / "no_pixels.dcm").write_bytes(to_part10(make_ct(sop=uid(40, 1), pixels=False)))
    assert sum(1 for p in src.rglob("*") if p.is_file()) == N_OBJECTS + N_BAD
    return src


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "secret.key"
    load_secret(path, create=True)
    return path


def _fresh_archive(root: Path, secret_file: Path) -> Path:
    """An empty archive that holds a copy of the shared secret (mode 0600)."""
    layout = ArchiveLayout.at(root).create()
    shutil.copyfile(secret_file, layout.secret)
    os.chmod(layout.secret, 0o600)
    return root


def _ingest(source: Path, archive: Path, workers: int = 1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ingest(source, archive, workers=workers, progress=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, source: Path, secret_file: Path) -> Path:
    """The archive of one uninterrupted run."""
    archive = _fresh_archive(tmp_path_factory.mktemp("ref") / "archive", secret_file)
    report = _ingest(source, archive)
    assert (report.published, report.quarantined, report.ignored) == (N_OBJECTS, N_BAD, 0), report.summary()
    return archive


def _quarantine_view(archive: Path) -> list[tuple[str, str, str]]:
    return sorted((r.id, r.stage, r.reason) for r in Quarantine(ArchiveLayout.at(archive).quarantine))


def _n_objects(archive: Path) -> int:
    root = archive / "objects"
    return sum(1 for _ in root.rglob("*.dcm")) if root.is_dir() else 0


def _run_and_kill(source: Path, archive: Path, workers: int, *, delay: float | None = None,
                  objects: int | None = None, timeout: float = 120.0) -> str:
    """Start an ingest child, SIGKILL its process group at the trigger; say what happened."""
    log = archive.parent / f"child-{time.monotonic_ns()}.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(source), str(archive), str(workers)],
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    start = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - start < timeout:
            if delay is not None and time.monotonic() - start >= delay:
                break
            if objects is not None and _n_objects(archive) >= objects:
                break
            time.sleep(0.005)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and its worker processes, nothing else
            proc.wait(timeout=30)
            return f"killed after {time.monotonic() - start:.2f} s with {_n_objects(archive)} objects stored"
    except ProcessLookupError:
        proc.wait(timeout=30)  # it finished between the check and the kill
    finally:
        if proc.poll() is None:  # never leave our own child behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == 0, f"the ingest child failed on its own:\n{log.read_text(errors='replace')[-3000:]}"
    return "finished before the kill"


def _diff(a: object, b: object, what: str, a_name: str = "after resume", b_name: str = "reference") -> str:
    if a == b:
        return ""
    if isinstance(a, dict) and isinstance(b, dict):
        lines = [f"{what} differ:"]
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                va, vb = a.get(key), b.get(key)
                if isinstance(va, list) and isinstance(vb, list):
                    only_a = [r for r in va if r not in vb][:5]
                    only_b = [r for r in vb if r not in va][:5]
                    lines.append(f"  {key}: only {a_name} {only_a}\n  {key}: only {b_name} {only_b}")
                else:
                    lines.append(f"  {key}: {a_name} {va!r} / {b_name} {vb!r}")
        return "\n".join(lines[:40])
    return f"{what} differ:\n  {a_name}: {a!r}\n  {b_name}: {b!r}"


def _assert_same_archive(archive: Path, reference: Path, context: str) -> None:
    got, want = snapshot(archive), snapshot(reference)
    problems = [
        _diff(got.objects, want.objects, "stored objects (path -> sha256)"),
        _diff(got.catalog, want.catalog, "catalog tables"),
        _diff(got.pseudonyms, want.pseudonyms, "pseudonym registries"),
        _diff(_quarantine_view(archive), _quarantine_view(reference), "quarantines"),
    ]
    leftovers = leftover_temp_files(archive)
    if leftovers:
        problems.append(f"temporary files left behind: {leftovers}")
    problems = [p for p in problems if p]
    assert not problems, f"{context}:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- tests


def test_reference_run_is_complete(reference: Path) -> None:
    snap = snapshot(reference)
    assert len(snap.objects) == N_OBJECTS
    assert {len(snap.catalog[t]) for t in ("instances",)} == {N_OBJECTS}
    assert len(snap.catalog["patients"]) == 7 and len(snap.pseudonyms) >= 7
    lung = [row for row in snap.catalog["series"] if row[6] == N_LUNG]
    assert len(lung) == 1, f"expected one series of {N_LUNG} instances, found {snap.catalog['series']}"
    assert leftover_temp_files(reference) == []


SCENARIOS = [
    pytest.param(1, [("delay", 0.3)], id="w1-0.3s"),
    pytest.param(1, [("delay", 0.8)], id="w1-0.8s"),
    pytest.param(1, [("delay", 1.5)], id="w1-1.5s"),
    pytest.param(1, [("objects", 31)], id="w1-after-lung-series"),
    pytest.param(1, [("objects", 10), ("objects", 36)], id="w1-killed-twice"),
    pytest.param(2, [("delay", 1.2)], id="w2-1.2s"),
    pytest.param(2, [("objects", 15)], id="w2-mid-lung-series"),
    pytest.param(2, [("objects", 38)], id="w2-in-covid-pairs"),
    pytest.param(1, [("objects", 1)], id="w1-first-object"),
]


@pytest.mark.parametrize(("workers", "kills"), SCENARIOS)
def test_interrupted_ingest_converges(tmp_path: Path, source: Path, secret_file: Path, reference: Path,
                                      workers: int, kills: list[tuple[str, float]]) -> None:
    archive = _fresh_archive(tmp_path / "archive", secret_file)
    what = []
    for kind, value in kills:
        trigger = {"delay": value} if kind == "delay" else {"objects": int(value)}
        what.append(_run_and_kill(source, archive, workers, **trigger))
    report = _ingest(source, archive, workers=workers)
    context = f"workers={workers}; " + "; then ".join(what)
    assert report.total == N_OBJECTS + N_BAD, f"{context}: not every object accounted for\n{report.summary()}"
    _assert_same_archive(archive, reference, context)


def test_reingesting_the_same_source_adds_nothing(tmp_path: Path, source: Path, secret_file: Path,
                                                 reference: Path) -> None:
    archive = _fresh_archive(tmp_path / "archive", secret_file)
    first = _ingest(source, archive)
    assert first.published == N_OBJECTS
    before = snapshot(archive)
    mtimes = {p: p.stat().st_mtime_ns for p in (archive / "objects").rglob("*.dcm")}
    again = _ingest(source, archive)
    assert again.published == 0, again.summary()
    assert again.skipped_done + again.unchanged == N_OBJECTS + N_BAD, again.summary()
    assert again.quarantined == 0, "objects quarantined by the first run were handled again" 
    assert snapshot(archive) == before
    assert {p: p.stat().st_mtime_ns for p in (archive / "objects").rglob("*.dcm")} == mtimes, \
        "re-ingest rewrote stored objects"
    assert len(Quarantine(ArchiveLayout.at(archive).quarantine)) == N_BAD
    _assert_same_archive(archive, reference, "ingested twice")


def test_reingest_after_the_journal_is_lost_changes_nothing(tmp_path: Path, source: Path, secret_file: Path,
                                                           reference: Path) -> None:
    """Without the journal every object is redone: the store must see each one as 'unchanged'."""
    archive = _fresh_archive(tmp_path / "archive", secret_file)
    _ingest(source, archive)
    layout = ArchiveLayout.at(archive)
    for suffix in ("", "-wal", "-shm"):
        Path(str(layout.journal) + suffix).unlink(missing_ok=True)
    again = _ingest(source, archive)
    assert (again.published, again.unchanged) == (0, N_OBJECTS), again.summary()
    _assert_same_archive(archive, reference, "re-ingested without a journal")


# --------------------------------------------------------------------------- worker count
#
# Convergence after kill -9 needs an archive that does not depend on timing:
# with workers > 1 (the CLI default is all cores) an uninterrupted run and a
# resumed run would otherwise differ.  Each test below builds a source whose
# objects finish out of source order in a pool of two workers, ingests it with
# workers=1 and workers=2 into archives with the same secret, and compares.


def _slow_ct(sop: str, **kw: object):
    """A CT whose 5000-item sequence makes parse_object take ~0.4 s (before de-identification)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    ds = make_ct(sop=sop, **kw)
    refs = []
    for i in range(5000):
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        item.ReferencedSOPInstanceUID = f"{sop}.{i + 1}"
        refs.append(item)
    ds.ReferencedImageSequence = DicomSequence(refs)
    return ds


def _one_and_two_workers(src: Path, root: Path, secret_file: Path):
    one = _fresh_archive(root / "w1", secret_file)
    two = _fresh_archive(root / "w2", secret_file)
    return (one, _ingest(src, one, workers=1)), (two, _ingest(src, two, workers=2))


def test_pseudonyms_do_not_depend_on_worker_timing(tmp_path: Path, secret_file: Path) -> None:
    """Patient numbers are handed out in order of first appearance *in the source*.

    Today they are assigned inside the worker processes, first come first
    served, so a patient whose first object is slow to parse gets a later
    number with workers=2 than with workers=1, and every stored object of
    both patients (PatientID, PatientName) differs.
    """
    src = tmp_path / "src"
    src.mkdir()
    (src / "a1-patient-a-slow.dcm").write_bytes(to_part10(_slow_ct(
        uid(50, 1), study=uid(50), series=uid(50, 0), patient_id="RACE-A", patient_name="Slowpoke^Alma")))
    (src / "a2-patient-b-fast.dcm").write_bytes(to_part10(make_ct(
        sop=uid(51, 1), study=uid(51), series=uid(51, 0), patient_id="RACE-B", patient_name="Quickly^Bruno")))
    (src / "a3-patient-c-fast.dcm").write_bytes(to_part10(make_ct(
        sop=uid(52, 1), study=uid(52), series=uid(52, 0), patient_id="RACE-C", patient_name="Swiftly^Cora")))
    (one, r1), (two, r2) = _one_and_two_workers(src, tmp_path, secret_file)
    assert r1.published == r2.published == 3, (r1.summary(), r2.summary())
    a, b = snapshot(one), snapshot(two)
    studies = _diff(b.catalog["studies"], a.catalog["studies"], "catalog studies (study UID, pseudonym, ...)",
                    "workers=2", "workers=1")
    objects = _diff(b.objects, a.objects, "stored objects", "workers=2", "workers=1")
    assert not (studies or objects), studies + "\n" + objects


def test_duplicate_winner_does_not_depend_on_worker_timing(tmp_path: Path, secret_file: Path) -> None:
    """Of two objects with one SOP Instance UID, the first *in the source* is published.

    Today the parent publishes outcomes in completion order, so with workers=2
    a small object that finishes first wins over a large one listed before it.
    """
    src = tmp_path / "src"
    src.mkdir()
    common = dict(sop=uid(53, 1), study=uid(53), series=uid(53, 0), patient_id="RACE-D", patient_name="Twice^Dora")
    (src / "b1-duplicate-slow.dcm").write_bytes(to_part10(_slow_ct(seed=1, **common)))
    (src / "b2-duplicate-fast.dcm").write_bytes(to_part10(make_ct(seed=2, **common)))
    for i in (2, 3, 4):  # more objects of the series, so that several are in flight at once
        (src / f"b{i + 1}-other-slice.dcm").write_bytes(to_part10(make_ct(
            **{**common, "sop": uid(53, i)}, instance_number=i, seed=i + 10)))
    (one, r1), (two, r2) = _one_and_two_workers(src, tmp_path, secret_file)
    assert (r1.published, r1.quarantined) == (4, 1), r1.summary()
    assert (r2.published, r2.quarantined) == (4, 1), r2.summary()
    q1 = [(Path(r.label).name, r.stage) for r in Quarantine(ArchiveLayout.at(one).quarantine)]
    q2 = [(Path(r.label).name, r.stage) for r in Quarantine(ArchiveLayout.at(two).quarantine)]
    assert q1 == [("b2-duplicate-fast.dcm", "duplicate")], "workers=1 publishes the first duplicate in source order"
    assert q2 == q1, f"workers=2 quarantined {q2}, workers=1 {q1}"
    assert snapshot(two).objects == snapshot(one).objects


def test_patient_row_does_not_depend_on_the_order_of_its_studies(tmp_path: Path, secret_file: Path) -> None:
    """A prior (age 064Y) and a current study (065Y) of one patient, read in either order.

    The catalog keeps one age per patient and the last upsert wins, so the
    patients table depends on which study was written last: with workers > 1 or
    after a resume that is a matter of timing (seen in the kill -9 scenarios
    with workers=2, where tcia-covid-ct-followup patients have two ages).
    """
    prior = make_ct(sop=uid(60, 1), study=uid(60), series=uid(60, 0), patient_id="ORDER-1")
    prior.PatientAge, prior.StudyDate = "064Y", "20190305"
    current = make_ct(sop=uid(61, 1), study=uid(61), series=uid(61, 0), patient_id="ORDER-1")
    current.PatientAge, current.StudyDate = "065Y", "20200310"
    rows = []
    for name, first, second in (("prior-first", prior, current), ("current-first", current, prior)):
        src = tmp_path / name / "src"
        src.mkdir(parents=True)
        (src / "1.dcm").write_bytes(to_part10(first))
        (src / "2.dcm").write_bytes(to_part10(second))
        archive = _fresh_archive(tmp_path / name / "archive", secret_file)
        assert _ingest(src, archive).published == 2
        rows.append(snapshot(archive).catalog["patients"])
    assert rows[0] == rows[1], f"prior first: {rows[0]}; current first: {rows[1]}"
