"""De-identification speed and leaks: ``caselib deidentify`` against the tools a user would otherwise pick.

Goal (deid issue): at least 3x the fastest peer on one core, with zero leaks,
and near-linear speed-up with cores.

The corpus
    ``--n`` files (default 2,000) built in a temporary folder from real series
    fetched by manifest name (``tcia-lung-ct``, ``pediatric-brain-mr``,
    ``tcia-gbm-mr``, ``ge-head-ct``, ``tcia-covid-ct-followup``), spread over
    ``--patients`` fake patients (default 40; one study, one series each; patient
    *p* gets slices of data set ``p mod 5``).  Every copy gets new Study, Series,
    SOP and Frame of Reference UIDs and a PHI canary of its patient: Patient's
    Name, Patient ID, Birth Date, Accession Number, Institution Name, Referring
    Physician's Name, a Study Description naming the patient, and a Request
    Attributes Sequence item holding a Requested Procedure ID, a description
    naming the patient and a person name (Names of Intended Recipients of
    Results).  Every planted text token is ``CNRY`` + a field letter + 6 random
    characters, so one scan for ``cnry`` finds all of them; the birth dates are 40
    distinct days of one 40-day window that no tool's date shift (at least 62
    days) and no date of the source files can reach, so a hit is a real leak.
    Everything is derived from ``--seed``: two runs build byte-identical corpora.

The tools, each with its default profile, one process pinned to one core, from
reading the input files to writing the output files:
    * caselib: :func:`caselib.ingest.deidentify_folder` (``caselib deidentify``),
      ``workers=1``, profile ``teaching``, a fresh secret and pseudonym registry per
      run; objects with possible burned-in PHI go to ``DEST-quarantine/`` (beside DEST) instead of
      being published (counted, and not scanned: they are the originals, held back).
      Each round runs in a fresh interpreter (its own untimed warm-up on the
      warm-up subset, then the timed call): caselib remembers values it has
      decoded, harvested and scanned, so a second round over the same files in one
      interpreter would find them all remembered (12 % faster than a first
      pass), which a new corpus would not;
    * dicognito: ``Anonymizer()`` per run (what its CLI builds), ``dcmread`` ->
      ``anonymize`` -> ``save_as(<new SOP UID>.dcm, enforce_file_format=True)``;
    * deid: ``deid.dicom.replace_identifiers(files, save=True, output_folder=...)``
      with no recipe (its default ``dicom`` recipe); its logger is set to
      ``MESSAGELEVEL=ERROR`` so that its default debug chatter to the terminal is
      not timed;
    * dicom-anonymizer: ``anonymize_dicom_file(in, out, None, delete_private_tags=True)``
      per file (what its folder function ``anonymize`` calls, minus the progress bar).

The I/O floor: the same rounds also time a plain copy of every input file to a
new file (``io_floor``, not a tool, not scanned).  Every tool reads each input and
writes an output of about its size, so this is the least time any tool can take on
this disk; ``ratio_ceiling_at_io_floor`` (copy speed / fastest peer) is the largest
ratio any tool could reach here, and ``ms_per_file_above_io_floor`` is each tool's
own work per file beyond that copy.

Then caselib again with ``workers=<all cores>`` (the speed-up figure), in one
fresh interpreter for all rounds, the same way: the workers are forked from
their parent, and forked from this process they would inherit every peer's
modules and data and copy that heap page by page as they run (2 workers:
1,050-1,080 files/s after the peers had run here), which no ``caselib
deidentify`` run has; each round's workers start with the parent's caches of
the warm-up subset only.  And once through the
``caselib deidentify`` command line (wall time of a fresh interpreter, one
worker).  One untimed warm-up run per tool on a subset, then
``--repeats`` rounds (default 3) in rotating order; medians are the headline
figures, best runs are printed beside them (on a shared machine other load only
ever slows a run down).  ``--profile N`` adds a cProfile of caselib on N files.

Leaks: every output file of every tool (quarantine excluded, reports included)
is read as raw bytes and searched, case-insensitively, for every planted token of
every patient, as 8-bit text (ASCII, UTF-8, Latin-1) and with NUL bytes removed
(UTF-16 LE/BE, UCS-4); birth dates as ``YYYYMMDD`` and ``YYYY-MM-DD`` not inside a
longer run of digits (8 given digits turn up by chance in random UID digits).  A leak
is one (file, planted value) found.  The scanner is checked first: every input
file must show all of its patient's values, and the untouched source files none.

Run::

    CASELIB_DATA_MIRRORS=../shared/data python bench/deid.py [--n 2000] [--repeats 3]
    python bench/deid.py --n 200 --repeats 1 --profile 300   # quick, with a cProfile of caselib

The last line printed is one JSON object with all figures.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

# This file is named deid.py: drop its folder from sys.path so that `import deid` finds the peer.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
os.environ.setdefault("MESSAGELEVEL", "ERROR")  # deid's logger; read when deid is imported

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime as dt  # noqa: E402
import gc  # noqa: E402
import importlib.metadata  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import string  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import pydicom  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import UID, generate_uid  # noqa: E402

from caselib.data import fetch_dataset  # noqa: E402
from caselib.ingest import deidentify_folder  # noqa: E402

warnings.simplefilter("ignore")

SOURCES = ("tcia-lung-ct", "pediatric-brain-mr", "tcia-gbm-mr", "ge-head-ct", "tcia-covid-ct-followup")
PEERS = ("dicognito", "deid", "dicom_anonymizer")
IO_FLOOR = "io_floor"  # a plain copy of every file, timed like a tool (see run_io_floor)
GOAL_RATIO = 3.0
PREFIX = "cnry"
TOKEN_LEN = 11  # "CNRY" + field letter + 6 characters
FIELDS = {  # field letter -> what it is planted in
    "f": "patient family name (PatientName, StudyDescription, nested description)",
    "g": "patient given name (PatientName, StudyDescription, nested description)",
    "p": "PatientID",
    "a": "AccessionNumber",
    "i": "InstitutionName",
    "r": "ReferringPhysicianName",
    "q": "RequestAttributesSequence[0].RequestedProcedureID",
    "n": "RequestAttributesSequence[0].NamesOfIntendedRecipientsOfResults",
    "b": "PatientBirthDate",
}


# --------------------------------------------------------------------------- the corpus


@dataclass
class Canary:
    """The fake identity planted in every file of one patient."""

    index: int
    family: str
    given: str
    patient_id: str
    accession: str
    institution: str
    referring: str
    requested_id: str
    recipient: str
    birth_date: str  # YYYYMMDD

    def tokens(self) -> dict[str, str]:
        """Planted value -> field letter (text tokens lower-cased; the birth date as digits)."""
        out = {t.lower(): t[4].lower() for t in (self.family, self.given, self.patient_id, self.accession,
                                                 self.institution, self.referring, self.requested_id,
                                                 self.recipient)}
        out[self.birth_date] = "b"
        return out


def _token(rng: random.Random, letter: str, alphabet: str, seen: set[str]) -> str:
    while True:
        tail = "".join(rng.choice(alphabet) for _ in range(6))
        token = "Cnry" + letter + tail if alphabet == string.ascii_lowercase else "CNRY" + letter.upper() + tail
        if token.lower() not in seen:
            seen.add(token.lower())
            return token


def make_canaries(n_patients: int, rng: random.Random) -> list[Canary]:
    if n_patients > 60:
        raise ValueError(f"at most 60 patients (birth dates must fit a window shorter than any date shift); "
                         f"got {n_patients}")
    seen: set[str] = set()
    # a window of n_patients days somewhere in 1930-1975: source dates are 1900-1901 and >= 1992, and
    # every tool shifts dates backwards by 62 days or more (dicognito 62-730, caselib 365-3650) or drops them
    start = dt.date(rng.randint(1930, 1975), rng.randint(1, 12), 1)
    days = list(range(n_patients))
    rng.shuffle(days)
    lower, digits = string.ascii_lowercase, string.digits
    return [Canary(
        index=p,
        family=_token(rng, "f", lower, seen),
        given=_token(rng, "g", lower, seen),
        patient_id=_token(rng, "p", digits, seen),
        accession=_token(rng, "a", digits, seen),
        institution=_token(rng, "i", lower, seen),
        referring=_token(rng, "r", lower, seen),
        requested_id=_token(rng, "q", digits, seen),
        recipient=_token(rng, "n", lower, seen),
        birth_date=(start + dt.timedelta(days=days[p])).strftime("%Y%m%d"),
    ) for p in range(n_patients)]


def plant(ds: Dataset, c: Canary, study_uid: UID, series_uid: UID, frame_uid: UID, sop_uid: UID,
          instance_number: int) -> None:
    """Put the canary of patient ``c`` and new UIDs into ``ds`` (in place)."""
    ds.PatientName = f"{c.family}^{c.given}"
    ds.PatientID = c.patient_id
    ds.PatientBirthDate = c.birth_date
    ds.AccessionNumber = c.accession
    ds.InstitutionName = f"{c.institution} General Hospital"
    ds.ReferringPhysicianName = f"{c.referring}^Horatio"
    ds.StudyDescription = f"Follow-up of {c.given} {c.family}"
    item = Dataset()
    item.RequestedProcedureID = c.requested_id
    item.RequestedProcedureDescription = f"Imaging requested for {c.given} {c.family}"
    item.NamesOfIntendedRecipientsOfResults = f"{c.recipient}^Ophelia"
    ds.RequestAttributesSequence = Sequence([item])
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, series_uid, sop_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.InstanceNumber = instance_number
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid


@dataclass
class Corpus:
    folder: Path
    files: list[Path]
    patient_of: dict[str, int]          # file name -> patient index
    canaries: list[Canary]
    sources: dict[str, int]             # data set -> number of copies
    bytes: int
    base_files: list[Path] = field(default_factory=list)


def build_corpus(folder: Path, n_files: int, n_patients: int, seed: int) -> Corpus:
    """``n_files`` copies of real slices with canaries and new UIDs, in one flat folder (deterministic)."""
    rng = random.Random(seed)
    canaries = make_canaries(n_patients, rng)
    base: dict[str, list[Path]] = {}
    for name in SOURCES:
        root = fetch_dataset(name, progress=False)
        base[name] = sorted(p for p in root.rglob("*.dcm") if p.is_file())
    folder.mkdir(parents=True)
    raw: dict[Path, bytes] = {}
    files: list[Path] = []
    patient_of: dict[str, int] = {}
    sources: Counter[str] = Counter()
    total = 0
    per_patient = [n_files // n_patients + (1 if p < n_files % n_patients else 0) for p in range(n_patients)]
    k = 0
    for p, count in enumerate(per_patient):
        name = SOURCES[p % len(SOURCES)]
        slices = base[name]
        offset = rng.randrange(len(slices))
        entropy = [str(seed), str(p)]
        study_uid = generate_uid(entropy_srcs=[*entropy, "study"])
        series_uid = generate_uid(entropy_srcs=[*entropy, "series"])
        frame_uid = generate_uid(entropy_srcs=[*entropy, "frame"])
        for i in range(count):
            src = slices[(offset + i) % len(slices)]
            if src not in raw:
                raw[src] = src.read_bytes()
            ds = pydicom.dcmread(io.BytesIO(raw[src]))
            plant(ds, canaries[p], study_uid, series_uid, frame_uid,
                  generate_uid(entropy_srcs=[*entropy, "sop", str(i)]), i + 1)
            path = folder / f"{k:05d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            files.append(path)
            patient_of[path.name] = p
            sources[name] += 1
            total += path.stat().st_size
            k += 1
    return Corpus(folder, files, patient_of, canaries, dict(sources), total,
                  sorted(p for files_ in base.values() for p in files_))


# --------------------------------------------------------------------------- leak scan


# a planted birth date counts where it stands as a number of its own: its 8 digits also occur by
# chance inside the 39 random digits of a keyed 2.25 UID (about once in a few runs of 2,000 files)
_DATE = re.compile(rb"(?<![0-9])(1[89]\d\d)-?([01]\d)-?([0-3]\d)(?![0-9])")
_scan_tokens: dict[bytes, tuple[int, str]] = {}


def _init_scan(tokens: dict[bytes, tuple[int, str]]) -> None:
    global _scan_tokens
    _scan_tokens = tokens


def _hits_in(data: bytes, tokens: dict[bytes, tuple[int, str]] | None = None) -> set[tuple[int, str]]:
    """(patient, field letter) of every planted value in lower-cased ``data``."""
    tokens = _scan_tokens if tokens is None else tokens
    hits: set[tuple[int, str]] = set()
    prefix = PREFIX.encode()
    i = data.find(prefix)
    while i >= 0:
        hit = tokens.get(data[i:i + TOKEN_LEN])
        if hit is not None:
            hits.add(hit)
        i = data.find(prefix, i + 1)
    for m in _DATE.finditer(data):
        hit = tokens.get(m.group(1) + m.group(2) + m.group(3))
        if hit is not None:
            hits.add(hit)
    return hits


def scan_file(path: str) -> tuple[str, list[tuple[int, str]], bool]:
    """Planted values found in one file (as 8-bit text and with NULs removed), and whether it parses."""
    raw = Path(path).read_bytes()
    data = raw.lower()
    hits = _hits_in(data) | _hits_in(data.replace(b"\x00", b""))
    try:
        pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
        ok = True
    except Exception:  # noqa: BLE001
        ok = False
    return path, sorted(hits), ok


def _where(path: Path, tokens: dict[bytes, tuple[int, str]]) -> list[str]:
    """Keywords (with sequence paths) of the elements holding a planted value, for the report."""
    found: list[str] = []
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001
        return ["<not DICOM>"]

    def visit(d: Dataset, where: str) -> None:
        for elem in d:
            name = where + (elem.keyword or str(elem.tag))
            if elem.VR == "SQ":
                for j, item in enumerate(elem.value):
                    visit(item, f"{name}[{j}].")
                continue
            try:
                text = str(elem.value).lower().encode("utf-8", "replace")
            except Exception:  # noqa: BLE001
                continue
            if _hits_in(text, tokens):
                found.append(name)

    visit(ds.file_meta, "")
    visit(ds, "")
    return found or ["<outside parsed elements>"]


@dataclass
class LeakReport:
    files_scanned: int = 0
    leaks: int = 0
    files_with_leaks: int = 0
    unreadable: int = 0
    by_field: dict[str, int] = field(default_factory=dict)
    where: dict[str, int] = field(default_factory=dict)


def all_tokens(canaries: list[Canary]) -> dict[bytes, tuple[int, str]]:
    return {t.encode(): (c.index, f) for c in canaries for t, f in c.tokens().items()}


def scan_outputs(files: list[Path], tokens: dict[bytes, tuple[int, str]], pool: ProcessPoolExecutor,
                 explain: int = 3) -> LeakReport:
    report = LeakReport()
    leaky: list[Path] = []
    for name, hits, ok in pool.map(scan_file, [str(f) for f in files], chunksize=16):
        report.files_scanned += 1
        report.unreadable += not ok and name.endswith(".dcm")
        if hits:
            report.leaks += len(hits)
            report.files_with_leaks += 1
            for _, letter in hits:
                report.by_field[letter] = report.by_field.get(letter, 0) + 1
            if len(leaky) < explain:
                leaky.append(Path(name))
    for path in leaky:
        for name in _where(path, tokens):
            report.where[name] = report.where.get(name, 0) + 1
    return report


def output_files(folder: Path) -> list[Path]:
    """Every file a tool wrote, except caselib's quarantine (originals held back, not published)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and "quarantine" not in p.relative_to(folder).parts)


# --------------------------------------------------------------------------- the tools


@dataclass
class Run:
    seconds: float
    published: int
    quarantined: int = 0
    errors: int = 0
    notes: list[str] = field(default_factory=list)


def run_caselib_here(src: Path, out: Path, scratch: Path, workers: int = 1) -> Run:
    """caselib in this interpreter (a fresh secret and pseudonym registry each time)."""
    secret = scratch / f"secret-{time.monotonic_ns()}" / "secret.key"
    t0 = time.perf_counter()
    report = deidentify_folder(src, out, workers=workers, secret_file=secret, progress=False)
    seconds = time.perf_counter() - t0
    notes = [f"{s}: {n}" for s, n in sorted(report.by_stage.items())]
    # why (tag paths only, never values): a refusal is a false positive on this corpus, to be looked at
    notes += [f"{Path(p['label']).name} [{p['stage']}] {p['reason']}" for p in report.problems[:5]]
    return Run(seconds, report.published, report.quarantined, 0, notes)


def run_caselib(src: Path, files: list[Path], out: Path, scratch: Path) -> Run:
    """One round of caselib on one worker, in a fresh interpreter (see :func:`run_caselib_fresh`)."""
    return run_caselib_fresh(src, scratch / "warm-src", out, scratch, 1, 1)[0]


def run_caselib_fresh(src: Path, warm_src: Path, out: Path, scratch: Path, workers: int, repeats: int
                      ) -> list[Run]:
    """``repeats`` timed rounds of caselib with ``workers`` in a fresh interpreter, after an untimed
    one-worker warm-up there on the warm-up subset; the last round's output is left in ``out``.

    A fresh interpreter per call, because caselib remembers what it has decoded, harvested and
    scanned (by value, so that the slices of a series share the work): a second round over the
    same files in one interpreter would find every value remembered, which a new corpus would
    not; and workers forked from this process would inherit every peer's heap.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--caselib-child", str(src), str(warm_src), str(out),
           str(scratch), str(workers), str(repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"caselib ({workers} worker(s)) failed:\n{done.stderr}")
    rounds = json.loads(done.stdout.strip().splitlines()[-1])
    return [Run(r["seconds"], r["published"], r["quarantined"], 0, r["notes"]) for r in rounds]


def caselib_child(src: str, warm_src: str, out: str, scratch: str, workers: str, repeats: str) -> int:
    """The fresh interpreter of :func:`run_caselib_fresh`: prints one JSON list of rounds."""
    scratch_path = Path(scratch)
    warm_out = scratch_path / f"warm-caselib-{os.getpid()}"
    run_caselib_here(Path(warm_src), warm_out, scratch_path, workers=1)  # untimed: imports, page cache
    shutil.rmtree(warm_out)
    rounds = []
    for _ in range(int(repeats)):
        if Path(out).exists():
            shutil.rmtree(out)
        gc.collect()
        run = run_caselib_here(Path(src), Path(out), scratch_path, workers=int(workers))
        rounds.append({"seconds": run.seconds, "published": run.published, "quarantined": run.quarantined,
                       "notes": run.notes})
    print(json.dumps(rounds))
    return 0


def run_dicognito(src: Path, files: list[Path], out: Path, scratch: Path) -> Run:
    from dicognito.anonymizer import Anonymizer

    out.mkdir(parents=True, exist_ok=True)
    errors = 0
    t0 = time.perf_counter()
    anonymizer = Anonymizer()
    for path in files:
        try:
            ds = pydicom.dcmread(path)
            anonymizer.anonymize(ds)
            ds.save_as(out / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
        except Exception:  # noqa: BLE001
            errors += 1
    seconds = time.perf_counter() - t0
    return Run(seconds, len(files) - errors, 0, errors)


def run_deid(src: Path, files: list[Path], out: Path, scratch: Path) -> Run:
    from deid.dicom import replace_identifiers

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    written = replace_identifiers([str(p) for p in files], save=True, output_folder=str(out))
    seconds = time.perf_counter() - t0
    return Run(seconds, len(written), 0, len(files) - len(written))


def run_dicom_anonymizer(src: Path, files: list[Path], out: Path, scratch: Path) -> Run:
    from dicomanonymizer import anonymize_dicom_file

    out.mkdir(parents=True, exist_ok=True)
    errors = 0
    t0 = time.perf_counter()
    for path in files:
        try:
            anonymize_dicom_file(str(path), str(out / path.name), None, delete_private_tags=True)
        except Exception:  # noqa: BLE001
            errors += 1
    seconds = time.perf_counter() - t0
    return Run(seconds, len(files) - errors, 0, errors)


def run_io_floor(src: Path, files: list[Path], out: Path, scratch: Path) -> Run:
    """Not a tool: read every input and write its bytes unchanged to a new file in ``out``.

    The least any tool does (every output is about as large as its input), so its
    time is the floor of every tool's time on this disk; its outputs are not scanned
    (they are the inputs)."""
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        with open(out / path.name, "wb") as fh:
            fh.write(data)
    seconds = time.perf_counter() - t0
    return Run(seconds, len(files), 0, 0)


TOOLS: dict[str, Callable[[Path, list[Path], Path, Path], Run]] = {
    "caselib": run_caselib,
    "dicognito": run_dicognito,
    "deid": run_deid,
    "dicom_anonymizer": run_dicom_anonymizer,
    IO_FLOOR: run_io_floor,
}


def run_cli(src: Path, out: Path, scratch: Path) -> float:
    exe = shutil.which("caselib") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "caselib.cli"]
    cmd += ["deidentify", str(src), str(out), "--secret-file", str(scratch / "cli-secret" / "secret.key"),
            "--workers", "1", "--no-progress"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- helpers


def pin_one_core() -> set[int]:
    """Run on one core (the first allowed one); returns the previous affinity."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    return before


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def hardlink_subset(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    out = []
    for f in files:
        os.link(f, folder / f.name)
        out.append(folder / f.name)
    return out


def profile_caselib(src: Path, scratch: Path, top: int) -> str:
    out = scratch / "profile-out"
    prof = cProfile.Profile()
    prof.enable()
    deidentify_folder(src, out, workers=1, secret_file=scratch / "profile-secret" / "secret.key", progress=False)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats("caselib", top)
    stats.sort_stats("tottime").print_stats(top)
    shutil.rmtree(out)
    return buf.getvalue()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--caselib-child"]:
        return caselib_child(*argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="files in the corpus (default 2000)")
    ap.add_argument("--patients", type=int, default=40, help="fake patients (default 40, at most 60)")
    ap.add_argument("--seed", type=int, default=20240315)
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds per tool; medians reported")
    ap.add_argument("--warmup", type=int, default=40, help="files in the untimed warm-up run")
    ap.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    ap.add_argument("--no-cli", action="store_true", help="skip the one command-line run of caselib")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also cProfile caselib (one core) on the first N files and print the hotspots")
    ap.add_argument("--tmp", default=None, help="folder for the corpus and outputs (default: system temp)")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    cores = len(os.sched_getaffinity(0))
    load_start = round(os.getloadavg()[0], 2)
    print(f"deid bench: {args.n} files, {args.patients} patients, seed {args.seed}, {args.repeats} round(s), "
          f"{cores} core(s), load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="caselib-deid-bench-", dir=args.tmp) as tmp:
        scratch = Path(tmp)
        t0 = time.perf_counter()
        corpus = build_corpus(scratch / "corpus", args.n, args.patients, args.seed)
        tokens = all_tokens(corpus.canaries)
        print(f"corpus: {len(corpus.files)} files, {corpus.bytes / 1e6:.0f} MB, "
              + ", ".join(f"{k} {v}" for k, v in corpus.sources.items())
              + f" (built in {time.perf_counter() - t0:.1f} s)")

        leak_reports: dict[str, LeakReport] = {}
        with ProcessPoolExecutor(cores, initializer=_init_scan, initargs=(tokens,)) as pool:
            # the scanner must see every planted value in the inputs and none in the sources
            base = scan_outputs(corpus.base_files, tokens, pool)
            if base.leaks:
                raise SystemExit(f"scanner check failed: the source files hold planted values ({base.by_field})")
            expected = len(corpus.files) * len(FIELDS)
            recall = scan_outputs(corpus.files, tokens, pool, explain=0)
            if recall.leaks != expected:
                raise SystemExit(f"scanner check failed: found {recall.leaks} of {expected} planted values")
            print(f"scanner check: {recall.leaks} planted values found in the inputs, 0 in the "
                  f"{len(corpus.base_files)} source files")

            # warm-up (untimed): imports, caches, page cache
            warm = hardlink_subset(corpus.files[:args.warmup], scratch / "warm-src")
            for name in args.tools:
                TOOLS[name](warm[0].parent, warm, scratch / f"warm-{name}", scratch)
                shutil.rmtree(scratch / f"warm-{name}")

            times: dict[str, list[float]] = {name: [] for name in args.tools}
            last: dict[str, Run] = {}
            written: dict[str, int] = {}
            affinity = pin_one_core()
            try:
                for r in range(args.repeats):
                    order = args.tools[r % len(args.tools):] + args.tools[:r % len(args.tools)]
                    for name in order:
                        out = scratch / f"out-{name}"
                        gc.collect()
                        run = TOOLS[name](corpus.folder, corpus.files, out, scratch)
                        times[name].append(run.seconds)
                        last[name] = run
                        print(f"  round {r + 1}: {name:<17} {run.seconds:7.1f} s  "
                              f"{len(corpus.files) / run.seconds:7.1f} files/s", flush=True)
                        if run.quarantined:
                            print(f"    {name} quarantined {run.quarantined}: " + "; ".join(run.notes), flush=True)
                        if r == args.repeats - 1 and name == IO_FLOOR:
                            leak_reports[name] = LeakReport()  # the inputs themselves: not scanned
                        elif r == args.repeats - 1:
                            os.sched_setaffinity(0, affinity)
                            outputs = output_files(out)
                            written[name] = sum(1 for p in outputs if p.suffix == ".dcm")
                            leak_reports[name] = scan_outputs(outputs, tokens, pool)
                            os.sched_setaffinity(0, {min(affinity)})
                        shutil.rmtree(out)
            finally:
                os.sched_setaffinity(0, affinity)

            # caselib on every core, in a fresh interpreter (see the module docstring)
            multi: list[float] = []
            multi_run = None
            if "caselib" in args.tools and cores > 1:
                out = scratch / "out-caselib-all"
                multi_runs = run_caselib_fresh(corpus.folder, warm[0].parent, out, scratch, cores, args.repeats)
                for r, multi_run in enumerate(multi_runs):
                    multi.append(multi_run.seconds)
                    print(f"  round {r + 1}: caselib x{cores} cores  {multi_run.seconds:7.1f} s  "
                          f"{len(corpus.files) / multi_run.seconds:7.1f} files/s", flush=True)
                    if multi_run.quarantined:
                        print(f"    quarantined {multi_run.quarantined}: " + "; ".join(multi_run.notes), flush=True)
                leak_reports["caselib_all_cores"] = scan_outputs(output_files(out), tokens, pool)  # the last round's
                shutil.rmtree(out)

        cli_seconds = None
        if "caselib" in args.tools and not args.no_cli:
            affinity = pin_one_core()
            try:
                cli_seconds = run_cli(corpus.folder, scratch / "out-cli", scratch)
            finally:
                os.sched_setaffinity(0, affinity)
            shutil.rmtree(scratch / "out-cli")
            print(f"  caselib deidentify (command line, 1 worker, interpreter start included): "
                  f"{cli_seconds:.1f} s  {len(corpus.files) / cli_seconds:.1f} files/s")

        profile_text = ""
        if args.profile and "caselib" in args.tools:
            sub = hardlink_subset(corpus.files[:args.profile], scratch / "profile-src")
            affinity = pin_one_core()
            try:
                profile_text = profile_caselib(sub[0].parent, scratch, 30)
            finally:
                os.sched_setaffinity(0, affinity)

    # ---------------------------------------------------------------- report
    n = len(corpus.files)
    rate = {name: n / statistics.median(ts) for name, ts in times.items()}
    best = {name: n / min(ts) for name, ts in times.items()} | ({"caselib_all_cores": n / min(multi)} if multi else {})
    peers = {k: v for k, v in rate.items() if k in PEERS}
    best_peer = max(peers, key=peers.__getitem__) if peers else None
    ratio = rate["caselib"] / peers[best_peer] if best_peer and "caselib" in rate else None
    rate_multi = n / statistics.median(multi) if multi else None
    speedup = rate_multi / rate["caselib"] if rate_multi and "caselib" in rate else None

    print()
    print(f"{'tool':<22}{'files/s':>9}{'best':>7}{'median s':>10}{'published':>11}{'quarant.':>10}{'errors':>8}"
          f"{'leaks':>7}{'leaky files':>13}  leaked fields")
    rows = [(name, rate[name], best[name], statistics.median(times[name]), last[name], leak_reports[name])
            for name in times]
    if multi_run is not None and rate_multi is not None:
        rows.append((f"caselib x{cores} cores", rate_multi, best["caselib_all_cores"], statistics.median(multi),
                     multi_run, leak_reports["caselib_all_cores"]))
    for name, fps, top, med, run, lr in rows:
        if name == IO_FLOOR:
            print(f"{'(I/O floor: copy)':<22}{fps:>9.1f}{top:>7.1f}{med:>10.1f}{run.published:>11}{'-':>10}{'-':>8}"
                  f"{'-':>7}{'-':>13}  not de-identified, not scanned")
            continue
        fields_ = ", ".join(f"{FIELDS[f].split(' (')[0]} {c}" for f, c in sorted(lr.by_field.items())) or "-"
        print(f"{name:<22}{fps:>9.1f}{top:>7.1f}{med:>10.1f}{run.published:>11}{run.quarantined:>10}{run.errors:>8}"
              f"{lr.leaks:>7}{lr.files_with_leaks:>13}  {fields_}")
    for name, _, _, _, _, lr in rows:
        if lr.where:
            print(f"  {name}: leaked values sit in " + ", ".join(f"{k}" for k in sorted(lr.where)))
        if lr.unreadable:
            print(f"  {name}: {lr.unreadable} output files do not parse as DICOM")
    for name, count in written.items():
        if count != last[name].published:
            print(f"  {name}: says it published {last[name].published} objects, wrote {count} .dcm files")
    for name, _, _, _, run, _ in rows:
        if run.notes:
            print(f"  {name}: quarantined by stage: " + "; ".join(run.notes))
    ratio_best = None
    if ratio is not None:
        best_peer_best = max((p for p in best if p in PEERS), key=best.__getitem__)
        ratio_best = best["caselib"] / best[best_peer_best]
        print(f"caselib / fastest peer ({best_peer}), medians: {ratio:.2f}x; best runs: {ratio_best:.2f}x "
              f"(goal {GOAL_RATIO:.0f}x: {'met' if ratio >= GOAL_RATIO else 'missed'})")
    floor_ms: dict[str, float] = {}
    ceiling = None
    if IO_FLOOR in times:
        floor_s = statistics.median(times[IO_FLOOR])
        floor_ms = {name: round((statistics.median(ts) - floor_s) / n * 1000, 2)
                    for name, ts in times.items() if name != IO_FLOOR}
        if best_peer is not None:
            ceiling = rate[IO_FLOOR] / peers[best_peer]
            print(f"I/O floor (read + write a copy of every file): {rate[IO_FLOOR]:.0f} files/s, so no tool can be "
                  f"more than {ceiling:.2f}x the fastest peer on this disk")
        print("milliseconds per file above the I/O floor (medians): "
              + ", ".join(f"{k} {v:.2f}" for k, v in floor_ms.items()))
    if speedup is not None:
        print(f"caselib speed-up with {cores} cores: {speedup:.2f}x (parallel efficiency {speedup / cores:.0%})")
    if profile_text:
        print(f"\ncProfile of caselib deidentify_folder, one core, {args.profile} files:")
        print(profile_text)

    figures: dict[str, Any] = {
        "n_files": n,
        "patients": args.patients,
        "seed": args.seed,
        "repeats": args.repeats,
        "corpus_mb": round(corpus.bytes / 1e6, 1),
        "corpus_sources": corpus.sources,
        "cores": cores,
        "caselib_files_per_s": round(rate["caselib"], 1) if "caselib" in rate else None,
        "caselib_files_per_s_all_cores": round(rate_multi, 1) if rate_multi else None,
        "caselib_speedup_all_cores": round(speedup, 2) if speedup else None,
        "caselib_cli_files_per_s": round(n / cli_seconds, 1) if cli_seconds else None,
        **{f"{p}_files_per_s": round(rate[p], 1) if p in rate else None for p in PEERS},
        "best_peer": best_peer,
        "ratio_vs_best_peer": round(ratio, 2) if ratio is not None else None,
        "ratio_vs_best_peer_best_runs": round(ratio_best, 2) if ratio_best is not None else None,
        "files_per_s_best_run": {k: round(v, 1) for k, v in best.items()},
        "io_floor_files_per_s": round(rate[IO_FLOOR], 1) if IO_FLOOR in rate else None,
        "ratio_ceiling_at_io_floor": round(ceiling, 2) if ceiling is not None else None,
        "ms_per_file_above_io_floor": floor_ms,
        "goal_ratio": GOAL_RATIO,
        "goal_met": bool(ratio is not None and ratio >= GOAL_RATIO
                         and leak_reports.get("caselib", LeakReport()).leaks == 0),
        "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()}
        | ({"caselib_all_cores": [round(t, 2) for t in multi]} if multi else {}),
        "leaks": {k: v.leaks for k, v in leak_reports.items() if k != IO_FLOOR},
        "files_with_leaks": {k: v.files_with_leaks for k, v in leak_reports.items() if k != IO_FLOOR},
        "leaks_by_field": {k: {FIELDS[f].split(" (")[0]: c for f, c in sorted(v.by_field.items())}
                           for k, v in leak_reports.items() if k != IO_FLOOR},
        "published": {k: r.published for k, r in last.items() if k != IO_FLOOR}
        | ({"caselib_all_cores": multi_run.published} if multi_run else {}),
        "written_dcm_files": written,
        "quarantined": {k: r.quarantined for k, r in last.items() if k != IO_FLOOR},
        "errors": {k: r.errors for k, r in last.items() if k != IO_FLOOR},
        "versions": {"python": platform.python_version(), "pydicom": version("pydicom"),
                     "caselib": version("caselib"), "dicognito": version("dicognito"), "deid": version("deid"),
                     "dicom-anonymizer": version("dicom-anonymizer")},
        "load_average": [load_start, round(os.getloadavg()[0], 2)],
        "bench_seconds": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
