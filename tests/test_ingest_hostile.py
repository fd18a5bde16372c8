"""Hostile input never crashes an ingest and is never silently dropped.

A corpus made in ``tmp_path`` (helpers in ``ingest_fixtures``): a valid small CT
as the control, then truncated copies, random bytes, a text file, an empty
file, a CT without Pixel Data, absurd dimensions, a malformed element, a zip
with ``..``/absolute/nested members, a 200 MB zip bomb, two objects with one
SOP Instance UID and different pixels, a symbolic link out of the source and a
DICOMDIR whose records leave its folder.  Each hostile item must end in the
quarantine with a reason that says what was expected and what was found (and
the tag, where there is one), the report must count it, nothing may be written
outside the archive and the source must be left byte-for-byte and
mtime-for-mtime as it was.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import io
import re
import stat
import subprocess
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from caselib.archive import ArchiveLayout
from caselib.catalog import Catalog
from caselib.ingest import IngestReport, Limits, Quarantine, QuarantineRecord, Rejected, SourceItem, ingest, iter_source
from ingest_fixtures import (
    caselib_cli,
    make_ct,
    object_hashes,
    to_part10,
    tree_state,
    truncate,
    uid,
    with_raw_element_patched,
    write_dicomdir,
    write_zero_bomb,
    write_zip,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

BOMB_BYTES = 200 * 1024**2  # expanded size of the zip bomb member (about 200 KB compressed)


@dataclass(frozen=True)
class Hostile:
    """One hostile item: where its label ends, the stage and the reason expected in quarantine."""

    name: str
    label_end: str
    stage: str
    reason: str  # a regular expression searched in the reason


HOSTILE = [
    Hostile("truncated mid pixel data", "/trunc_pixels.dcm", "validate",
            r"\(7FE0,0010\) Pixel Data holds 256 bytes, expected 512 for 16x16x1 frames x 1 samples x 16 bits "
            r"\(truncated\?\)"),
    Hostile("truncated mid header", "/trunc_header.dcm", "validate",
            # the file ends inside (0008,0018): the reason must say it is truncated, not that a UID is missing
            r"(?i)truncat|ends inside|end of (the )?file"),
    Hostile("random bytes", "/random.bin", "validate",
            r"expected a DICOM file \(a 128-byte preamble and 'DICM'\), found 4096 bytes that are not DICOM"),
    Hostile("text file", "/notes.txt", "validate",
            r"expected a DICOM file \(a 128-byte preamble and 'DICM'\), found \d+ bytes that are not DICOM"),
    Hostile("empty file", "/empty.dcm", "validate", r"expected a DICOM file, found 0 bytes"),
    Hostile("no pixel data", "/no_pixels.dcm", "validate",
            r"expected \(7FE0,0010\) Pixel Data for CT Image Storage, found none"),
    Hostile("absurd dimensions", "/absurd.dcm", "validate",
            r"65535x65535x100000 frames x 1 samples x 16 bits = \d+ bytes of pixels, more than the limit of "
            r"\d+ bytes \(absurd dimensions\?\)"),
    Hostile("US of 3 bytes", "/malformed_us.dcm", "validate",
            r"malformed element .*length 3.*\(0028,0010\).*'US'"),
    Hostile("zip member ../", "/members.zip::../evil.dcm", "read",
            r"zip member name leaves the archive folder \(absolute or '\.\.'\); not read"),
    Hostile("zip member /abs", "/members.zip::/abs.dcm", "read",
            r"zip member name leaves the archive folder \(absolute or '\.\.'\); not read"),
    Hostile("zip member ..\\", "/members.zip::..\\evil2.dcm", "read",
            r"zip member name leaves the archive folder \(absolute or '\.\.'\); not read"),
    Hostile("zip member C:/", "/members.zip::C:/drive.dcm", "read",
            r"zip member name leaves the archive folder \(absolute or '\.\.'\); not read"),
    Hostile("nested zip", "/members.zip::inner.zip", "read",
            r"a zip archive inside the zip; unpack it and ingest it on its own"),
    Hostile("zip bomb", "/bomb.zip::bomb.dcm", "read",
            rf"expands beyond \d+ bytes from \d+ compressed \(declared {BOMB_BYTES}\); zip bomb refused"),
    Hostile("duplicate SOP Instance UID", "/dup_b.dcm", "duplicate",
            r"\(0008,0018\) SOP Instance UID 2\.25\.\d+ is already stored at '.*' with different content "
            r"\(fingerprint [0-9a-f]+\.\.\., new [0-9a-f]+\.\.\.\); not written"),
    Hostile("symbolic link out of the source", "/escape.dcm", "read",
            r"symbolic link to .*/outside/outside\.dcm, outside the source folder; not followed"),
]
PUBLISHED = ["/control.dcm", "/members.zip::ok/valid.dcm", "/dup_a.dcm"]


# --------------------------------------------------------------------------- the corpus


@dataclass
class Corpus:
    base: Path      # holds src/, outside/ and the archives
    src: Path
    outside: Path
    labels: set[str]  # every object the source holds: files, and zip::member


def _build_corpus(base: Path) -> Corpus:
    src, outside = base / "src", base / "outside"
    src.mkdir(parents=True)
    outside.mkdir()
    control = to_part10(make_ct(sop=uid(2, 1)))
    (src / "control.dcm").write_bytes(control)
    (src / "trunc_pixels.dcm").write_bytes(truncate(control, "mid-pixels"))
    (src / "trunc_header.dcm").write_bytes(truncate(control, "mid-header"))
    (src / "random.bin").write_bytes(random.Random(7).randbytes(4096))
    (src / "notes.txt").write_text("Ward round notes: nothing to see here.\n", encoding="utf-8")
    (src / "empty.dcm").write_bytes(b"")
    (src / "no_pixels.dcm").write_bytes(to_part10(make_ct(sop=uid(2, 3), pixels=False)))
    absurd = make_ct(sop=uid(2, 4))
    absurd.Rows = absurd.Columns = 65535
    absurd.NumberOfFrames = 100000
    absurd.PixelData = bytes(64)
    (src / "absurd.dcm").write_bytes(to_part10(absurd))
    (src / "malformed_us.dcm").write_bytes(with_raw_element_patched(
        to_part10(make_ct(sop=uid(2, 5))), (0x0028, 0x0010), b"US", b"\x10\x00\x00"))
    inner = write_zip(base / "inner.zip", [("inner.dcm", control)]).read_bytes()
    (base / "inner.zip").unlink()
    write_zip(src / "members.zip", [
        ("../evil.dcm", to_part10(make_ct(sop=uid(2, 10)))),
        ("/abs.dcm", to_part10(make_ct(sop=uid(2, 11)))),
        ("..\\evil2.dcm", to_part10(make_ct(sop=uid(2, 12)))),
        ("C:/drive.dcm", to_part10(make_ct(sop=uid(2, 13)))),
        ("inner.zip", inner),
        ("ok/valid.dcm", to_part10(make_ct(sop=uid(2, 7), instance_number=2))),
    ])
    write_zero_bomb(src / "bomb.zip", "bomb.dcm", BOMB_BYTES)
    (src / "dup_a.dcm").write_bytes(to_part10(make_ct(sop=uid(2, 8), instance_number=3, seed=1)))
    (src / "dup_b.dcm").write_bytes(to_part10(make_ct(sop=uid(2, 8), instance_number=3, seed=2)))
    (outside / "outside.dcm").write_bytes(to_part10(make_ct(sop=uid(2, 9), instance_number=4)))
    os.symlink(outside / "outside.dcm", src / "escape.dcm")
    labels = set()
    for path in src.iterdir():
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                labels |= {f"{path}::{name}" for name in zf.namelist()}
        else:
            labels.add(str(path))
    return Corpus(base, src, outside, labels)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return _build_corpus(tmp_path_factory.mktemp("hostile"))


@dataclass
class Run:
    workers: int
    archive: Path
    report: IngestReport
    published_labels: list[str]
    records: list[QuarantineRecord]
    src_before: dict
    src_after: dict
    outside_before: dict
    outside_after: dict
    base_before: set[str]
    base_after: set[str]


def _names_outside_archives(base: Path) -> set[str]:
    """Every path under ``base`` that is not inside an archive folder."""
    return {p.relative_to(base).as_posix() for p in base.rglob("*")
            if not p.relative_to(base).as_posix().startswith("archive")}


def _ingest_quietly(*args, **kwargs) -> IngestReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ingest(*args, progress=False, **kwargs)


@pytest.fixture(scope="module", params=[1, 2], ids=["workers=1", "workers=2"])
def run(request: pytest.FixtureRequest, corpus: Corpus) -> Run:
    workers = request.param
    archive = corpus.base / f"archive-w{workers}"
    src_before, outside_before = tree_state(corpus.src), tree_state(corpus.outside)
    base_before = _names_outside_archives(corpus.base)
    published: list[str] = []
    report = _ingest_quietly(corpus.src, archive, workers=workers,
                             on_published=lambda outcome: published.append(outcome.label))
    records = list(Quarantine(ArchiveLayout.at(archive).quarantine))
    return Run(workers, archive, report, published, records, src_before, tree_state(corpus.src),
               outside_before, tree_state(corpus.outside), base_before, _names_outside_archives(corpus.base))


def _record(run: Run, label_end: str) -> QuarantineRecord:
    found = [r for r in run.records if r.label.endswith(label_end)]
    assert len(found) == 1, (f"expected one quarantine record for ...{label_end}, found {len(found)}; "
                             f"records: {[(r.label, r.stage) for r in run.records]}")
    return found[0]


# --------------------------------------------------------------------------- outcomes


def test_the_control_and_the_good_zip_member_are_published(run: Run, corpus: Corpus) -> None:
    if run.workers == 1:
        assert sorted(run.published_labels) == sorted(str(corpus.src) + p for p in PUBLISHED)
    else:  # which of the two duplicates wins is covered by test_ingest_resume
        assert {str(corpus.src) + "/control.dcm", str(corpus.src) + "/members.zip::ok/valid.dcm"} <= set(
            run.published_labels)
    assert run.report.published == len(PUBLISHED)
    assert len(object_hashes(run.archive)) == len(PUBLISHED)
    with Catalog.open(run.archive, readonly=True) as catalog:
        instances = catalog.instances()
        assert len(instances) == len(PUBLISHED)
        series = catalog.series()
        assert series["modality"].tolist() == ["CT"]
        assert series["n_instances"].tolist() == [len(PUBLISHED)]


@pytest.mark.parametrize("item", HOSTILE, ids=[h.name for h in HOSTILE])
def test_each_hostile_item_is_quarantined_with_its_reason(run: Run, item: Hostile) -> None:
    if item.stage == "duplicate" and run.workers > 1:
        rec = [r for r in run.records if r.stage == "duplicate"]
        assert len(rec) == 1 and rec[0].label.endswith(("/dup_a.dcm", "/dup_b.dcm")), rec
        rec = rec[0]
    else:
        rec = _record(run, item.label_end)
    assert rec.stage == item.stage, f"{item.name}: stage {rec.stage!r}, reason {rec.reason!r}"
    assert re.search(item.reason, rec.reason), f"{item.name}: reason {rec.reason!r} does not match {item.reason!r}"


def test_the_report_counts_every_hostile_item_by_stage(run: Run) -> None:
    report = run.report
    assert report.quarantined == len(HOSTILE), report.summary()
    assert report.by_stage == dict(Counter(h.stage for h in HOSTILE)), report.summary()
    assert report.ignored == 0 and report.skipped_done == 0 and report.unchanged == 0
    assert report.total == len(HOSTILE) + len(PUBLISHED)
    assert sorted(p["label"] for p in report.problems) == sorted(r.label for r in run.records)
    assert len(run.records) == len(HOSTILE)
    saved = sorted(ArchiveLayout.at(run.archive).reports.glob("ingest-*.json"))
    assert saved, "no JSON report written"
    assert json.loads(saved[-1].read_text(encoding="utf-8"))["by_stage"] == report.by_stage


def test_nothing_is_silently_dropped(run: Run, corpus: Corpus) -> None:
    """Every object of the source ends published or quarantined under its own label."""
    seen = Counter(run.published_labels) + Counter(r.label for r in run.records)
    assert set(seen) == corpus.labels, (
        f"missing: {sorted(corpus.labels - set(seen))}; unexpected: {sorted(set(seen) - corpus.labels)}")
    assert all(n == 1 for n in seen.values()), {k: n for k, n in seen.items() if n > 1}


def test_quarantined_bytes_are_kept_exactly(run: Run, corpus: Corpus) -> None:
    quarantine = Quarantine(ArchiveLayout.at(run.archive).quarantine)
    for rec in run.records:
        if rec.stage == "read":  # refused before reading: nothing kept, and no bytes expected
            continue
        assert rec.has_original, rec
        data = quarantine.original(rec.id)
        assert hashlib.sha256(data).hexdigest() == rec.sha256 and len(data) == rec.size
        assert data == Path(rec.label).read_bytes(), f"{rec.label}: the quarantined copy differs from the source"


def test_private_area_is_owner_only(run: Run) -> None:
    layout = ArchiveLayout.at(run.archive)
    assert stat.S_IMODE(layout.private.stat().st_mode) == 0o700
    assert layout.quarantine.is_relative_to(layout.private)


# --------------------------------------------------------------------------- the outside world


def test_nothing_is_written_outside_the_archive(run: Run, corpus: Corpus) -> None:
    assert run.base_after == run.base_before, (
        f"new paths next to the archive: {sorted(run.base_after - run.base_before)}")
    for name in ("evil.dcm", "evil2.dcm", "..\\evil2.dcm", "drive.dcm", "abs.dcm", "inner.dcm", "bomb.dcm"):
        assert not (corpus.src.parent / name).exists()
        assert not (corpus.src / name).exists()
        assert not (Path("/") / name).exists(), f"/{name} was written"
        assert not list(run.archive.rglob(name)), f"{name} was extracted into the archive"
    assert not (run.archive.parent / "evil.dcm").exists()


def test_the_source_is_not_modified(run: Run) -> None:
    assert run.src_after == run.src_before, "the source tree changed (bytes, mtimes, links or names)"
    assert run.outside_after == run.outside_before, "the target of the escaping link changed"


def test_reingesting_the_hostile_source_adds_nothing(run: Run, corpus: Corpus) -> None:
    objects = object_hashes(run.archive)
    ids = sorted(r.id for r in run.records)
    again = _ingest_quietly(corpus.src, run.archive, workers=run.workers)
    assert again.published == 0, again.summary()
    assert object_hashes(run.archive) == objects
    assert sorted(r.id for r in Quarantine(ArchiveLayout.at(run.archive).quarantine)) == ids
    assert tree_state(corpus.src) == run.src_before


def test_cli_ingest_prints_the_summary(corpus: Corpus) -> None:
    archive = corpus.base / "archive-cli"
    proc = subprocess.run([*caselib_cli(), "ingest", str(corpus.src), "--archive", str(archive), "--workers", "1",
                           "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    stages = ", ".join(f"{s} {n}" for s, n in sorted(Counter(h.stage for h in HOSTILE).items()))
    assert re.search(rf"^ingested {re.escape(str(corpus.src))} into {re.escape(str(archive))} in [\d.]+ s "
                     r"\(profile teaching, jpeg-ls, 1 worker\(s\)\)$", out, re.M), out
    assert re.search(rf"^  published {len(PUBLISHED)} new, 0 already stored, 0 done by an earlier run; "
                     r"by modality: CT 3$", out, re.M), out
    assert f"  quarantined {len(HOSTILE)}: {stages}\n" in out, out
    for item in HOSTILE:
        line = [ln for ln in out.splitlines() if ln.startswith(f"    [{item.stage}] ") and item.label_end in ln]
        assert len(line) == 1, f"{item.name}: no summary line for ...{item.label_end} in\n{out}"


# --------------------------------------------------------------------------- limits, cheaply


def _limits_zip(tmp_path: Path) -> Path:
    path = tmp_path / "limits.zip"
    write_zero_bomb(path, "zeros.dcm", 3 * 1024**2)  # ratio about 1000:1
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("ok.dcm", to_part10(make_ct(sop=uid(3, 1))))
    return path


def _by_name(items) -> dict[str, SourceItem | Rejected]:
    return {i.label.rsplit("::", 1)[-1]: i for i in items}


def test_zip_ratio_limit_refuses_a_bomb_and_only_the_bomb(tmp_path: Path) -> None:
    items = _by_name(iter_source(_limits_zip(tmp_path)))
    assert isinstance(items["ok.dcm"], SourceItem)
    bomb = items["zeros.dcm"]
    assert isinstance(bomb, Rejected)
    assert re.fullmatch(r"expands beyond 1048576 bytes from \d+ compressed \(declared 3145728\); zip bomb refused",
                        bomb.reason), bomb.reason
    # the ratio is what refused it: with a generous ratio the member is read (and is then just not DICOM)
    relaxed = _by_name(iter_source(tmp_path / "limits.zip", Limits(max_ratio=100_000)))
    assert isinstance(relaxed["zeros.dcm"], SourceItem) and len(relaxed["zeros.dcm"].read()) == 3 * 1024**2


def test_zip_object_and_total_limits(tmp_path: Path) -> None:
    path = _limits_zip(tmp_path)
    small = _by_name(iter_source(path, Limits(max_object_bytes=1000)))
    assert all(isinstance(i, Rejected) for i in small.values())
    assert re.fullmatch(r"declares 3145728 bytes, larger than the limit of 1000 bytes", small["zeros.dcm"].reason)
    total = list(iter_source(path, Limits(max_total_bytes=2 * 1024**2)))
    assert len(total) == 1 and isinstance(total[0], Rejected) and total[0].label == str(path)
    assert re.fullmatch(r"zip declares \d+ bytes expanded, more than the limit of 2097152 bytes \(zip bomb\?\); "
                        r"nothing read", total[0].reason), total[0].reason


def test_limits_reach_the_pipeline(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.dcm").write_bytes(to_part10(make_ct(sop=uid(3, 2), rows=64, columns=64)))  # about 9 KB
    _limits_zip(src)  # about 5 KB: ok.dcm (1.4 KB) and zeros.dcm (declares 3 MiB)
    report = _ingest_quietly(src, tmp_path / "archive", workers=1, limits=Limits(max_object_bytes=6000))
    records = {r.label.rsplit("/", 1)[-1]: r for r in Quarantine(ArchiveLayout.at(tmp_path / "archive").quarantine)}
    assert report.published == 1 and report.quarantined == 2, report.summary()
    assert re.fullmatch(r"\d+ bytes, larger than the limit of 6000 bytes", records["big.dcm"].reason)
    assert re.fullmatch(r"declares 3145728 bytes, larger than the limit of 6000 bytes",
                        records["limits.zip::zeros.dcm"].reason)


def test_a_zip_in_a_folder_is_limited_by_its_members_not_by_its_own_size(tmp_path: Path) -> None:
    """A zip found in a folder tree is measured against ``max_object_bytes`` as if it were one
    object, before it is opened, so a large zip of small DICOM files is refused whole (with the
    default limits: any zip over 2 GiB).  Given directly as the source, the same zip is read."""
    src = tmp_path / "src"
    src.mkdir()
    with zipfile.ZipFile(src / "study.zip", "w") as zf:  # stored, not deflated: the zip is larger than each member
        for i in range(4):
            zf.writestr(f"IM{i}.dcm", to_part10(make_ct(sop=uid(3, 10 + i), instance_number=i + 1)))
    limits = Limits(max_object_bytes=3000)
    assert (src / "study.zip").stat().st_size > 3000
    direct = list(iter_source(src / "study.zip", limits))
    assert all(isinstance(i, SourceItem) for i in direct), direct
    in_folder = list(iter_source(src, limits))
    assert [type(i).__name__ for i in in_folder] == ["SourceItem"] * 4, [
        (i.label, getattr(i, "reason", "")) for i in in_folder]


def test_a_dicom_zip_polyglot_is_read_as_the_dicom_object_it_says_it_is(tmp_path: Path) -> None:
    """A Part 10 file with a zip appended (a valid zip too) is one DICOM object, not a zip: its
    members are never read.  The appended bytes follow the pixel data as a broken element, so
    the object is quarantined (bytes kept exactly) and nothing is published."""
    from caselib.ingest import deidentify_folder

    hidden = to_part10(make_ct(sop=uid(4, 2), patient_name="Polyglot^Hidden", patient_id="POLYHIDDEN"))
    appended = io.BytesIO()
    with zipfile.ZipFile(appended, "w") as zf:
        zf.writestr("POLYMEMBER.dcm", hidden)
    src = tmp_path / "src"
    src.mkdir()
    polyglot = src / "polyglot.dcm"
    polyglot.write_bytes(to_part10(make_ct(sop=uid(4, 1))) + appended.getvalue())
    assert zipfile.is_zipfile(polyglot)  # zipfile alone would open it as a zip
    items = list(iter_source(src))
    assert [(type(i).__name__, i.label) for i in items] == [("SourceItem", str(polyglot))]
    out = tmp_path / "out"
    report = deidentify_folder(src, out, secret_file=tmp_path / "k" / "s.key", workers=1, progress=False)
    assert report.published == 0 and report.by_stage == {"validate": 1}, report.summary()
    assert not list(out.rglob("*.dcm"))
    (record,) = list(Quarantine(tmp_path / "out-quarantine"))
    assert record.label == str(polyglot) and "truncated inside" in record.reason
    assert Quarantine(tmp_path / "out-quarantine").original(record.id) == polyglot.read_bytes()


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="limits must be positive"):
        Limits(max_ratio=1)
    with pytest.raises(ValueError, match="limits must be positive"):
        Limits(max_object_bytes=0)


# --------------------------------------------------------------------------- DICOMDIR


@pytest.mark.parametrize("workers", [1, 2])
def test_dicomdir_records_that_leave_the_folder_are_refused(tmp_path: Path, workers: int) -> None:
    folder, outside = tmp_path / "media", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (folder / "IM0001").write_bytes(to_part10(make_ct(sop=uid(4, 1))))
    (outside / "secret.dcm").write_bytes(to_part10(make_ct(sop=uid(4, 2))))
    (tmp_path / "outside.dcm").write_bytes(to_part10(make_ct(sop=uid(4, 3))))
    os.symlink(outside / "secret.dcm", folder / "LINK")
    dicomdir = write_dicomdir(folder / "DICOMDIR", [["IM0001"], ["..", "outside.dcm"], ["LINK"], ["NOFILE"]])
    before = tree_state(tmp_path)
    report = _ingest_quietly(dicomdir, tmp_path / "archive", workers=workers)
    records = {r.label.replace(str(folder), "MEDIA"): r
               for r in Quarantine(ArchiveLayout.at(tmp_path / "archive").quarantine)}
    assert report.published == 1 and report.quarantined == 3, report.summary()
    assert set(records) == {"MEDIA/DICOMDIR::../outside.dcm", "MEDIA/DICOMDIR::LINK", "MEDIA/NOFILE"}, records
    for key in ("MEDIA/DICOMDIR::../outside.dcm", "MEDIA/DICOMDIR::LINK"):
        assert records[key].stage == "read"
        assert records[key].reason == "DICOMDIR record points outside its folder; not read"
    assert re.fullmatch(r"named by \(0004,1500\) Referenced File ID in .*/DICOMDIR, but missing",
                        records["MEDIA/NOFILE"].reason)
    assert {k: v for k, v in tree_state(tmp_path).items() if not k.startswith("archive")} == before


def test_dicomdir_index_inside_a_folder_is_ignored_not_quarantined(tmp_path: Path) -> None:
    """Ingesting a folder tree reads the DICOMDIR as a file: it is an index, not a broken object.

    ``validate_object`` means to answer ``NotAnObjectError`` for it (reported as
    ignored), but looks for the Media Storage Directory class in (0008,0016),
    where a DICOMDIR has none: it lives in (0002,0002) of the file meta.
    """
    from pydicom.fileset import FileSet

    fs = FileSet()
    fs.add(make_ct(sop=uid(4, 5)))
    media = tmp_path / "media"
    fs.write(media)
    report = _ingest_quietly(media, tmp_path / "archive", workers=1)
    assert report.published == 1, report.summary()
    assert report.ignored == 1 and report.quarantined == 0, report.summary()
    assert re.search(r"DICOMDIR", report.ignored_items[0]["reason"])


# --------------------------------------------------------------------------- more hostile input, one bug each


def _one_bad_file_run(tmp_path: Path, name: str, data: bytes, workers: int = 1) -> tuple[IngestReport, list]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "control.dcm").write_bytes(to_part10(make_ct(sop=uid(6, 1))))
    (src / name).write_bytes(data)
    report = _ingest_quietly(src, tmp_path / "archive", workers=workers)
    return report, list(Quarantine(ArchiveLayout.at(tmp_path / "archive").quarantine))


def test_a_malformed_decimal_string_is_quarantined(tmp_path: Path) -> None:
    """(0018,0050) Slice Thickness 'abc': pydicom keeps the text (its default is to warn), so
    parse_object's "decode every element" check does not see it and the object is published."""
    data = with_raw_element_patched(to_part10(make_ct(sop=uid(6, 2))), (0x0018, 0x0050), b"DS", b"abc ")
    report, records = _one_bad_file_run(tmp_path, "malformed_ds.dcm", data)
    assert report.published == 1 and report.quarantined == 1, report.summary()
    (rec,) = records
    assert rec.stage == "validate"
    assert re.search(r"\(0018,0050\)", rec.reason) and "abc" in rec.reason, rec.reason


@pytest.mark.parametrize("workers", [1, 2])
def test_an_object_without_file_meta_does_not_crash_the_run(tmp_path: Path, workers: int) -> None:
    """A bare data set (no preamble, no file meta) with pixel data, like pydicom-data/OT-PAL-8-face.dcm.

    ``validate_object`` reads ``ds.file_meta.TransferSyntaxUID``, which such a data set
    does not have: AttributeError, and the whole ingest stops.
    """
    import io

    from pydicom.dataset import FileMetaDataset

    ds = make_ct(sop=uid(6, 3))
    ds.file_meta = FileMetaDataset()
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert buf.getvalue()[:2] == b"\x08\x00", "expected a bare data set starting with group 0008"
    report, records = _one_bad_file_run(tmp_path, "bare.dcm", buf.getvalue(), workers=workers)
    assert report.published + report.quarantined == 2, report.summary()
    assert all(r.reason for r in records)


def test_a_symlinked_folder_that_leaves_the_source_is_reported(tmp_path: Path) -> None:
    """``os.walk(followlinks=False)`` lists a linked folder in ``dirnames`` and never visits it:
    the objects behind it are dropped without a word."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "hidden.dcm").write_bytes(to_part10(make_ct(sop=uid(6, 4))))
    src = tmp_path / "src"
    src.mkdir()
    (src / "control.dcm").write_bytes(to_part10(make_ct(sop=uid(6, 5))))
    os.symlink(outside, src / "linked-folder")
    report = _ingest_quietly(src, tmp_path / "archive", workers=1)
    assert report.published == 1, report.summary()
    records = list(Quarantine(ArchiveLayout.at(tmp_path / "archive").quarantine))
    assert len(records) == 1 and report.quarantined == 1, report.summary()
    assert records[0].stage == "read" and records[0].label.endswith("/linked-folder")
    assert re.search(r"symbolic link to .*/outside, outside the source folder; not followed", records[0].reason)


def test_uncompressed_ybr_full_422_is_not_mistaken_for_truncated(tmp_path: Path) -> None:
    """YBR_FULL_422 stores 2 samples per pixel on average (PS3.3 C.7.6.3.1.2): 4x4 pixels are 32 bytes.

    ``validate_object`` expects rows x columns x 3 bytes and calls a valid object truncated.
    """
    ds = make_ct(sop=uid(6, 6), rows=4, columns=4)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"  # Ophthalmic Photo 8 bit
    ds.Modality = "OP"
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    for kw in ("RescaleIntercept", "RescaleSlope"):
        delattr(ds, kw)
    ds.PixelData = bytes(range(100, 132))  # Y1 Y2 Cb Cr for each pair of pixels
    report, records = _one_bad_file_run(tmp_path, "ybr422.dcm", to_part10(ds))
    refused = [(r.stage, r.reason) for r in records if r.label.endswith("ybr422.dcm")]
    assert not [r for r in refused if r[0] == "validate"], refused
    assert report.published == 2, report.summary()
