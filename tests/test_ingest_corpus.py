"""Every DICOM file of the data manifest ingests, or is quarantined (or ignored) with a reason.

All files are fetched with :func:`caselib.data.fetch_many` and hard-linked (or
copied) into ``tmp_path/src/<key>``, so labels name manifest keys.  Each
top-level data set is ingested on its own (``workers=2``) into ONE archive:
a crash in one data set is reported by its own test and does not hide what
the others do.  The expectations are specific: the clinical CT/MR/PT series
publish with their counts; ultrasounds are quarantined at ``pixel-phi``; the
covid prior/current pairs keep one pseudonym per patient and the interval
between the two study dates; pydicom's deliberately broken test files are
refused for what is wrong with them, and nothing else is refused except for
burned-in PHI.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import sqlite3
import traceback
import warnings
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pydicom
import pytest

from caselib.archive import ArchiveLayout
from caselib.catalog import Catalog
from caselib.data import fetch, fetch_many, load_manifest
from caselib.errors import DataError
from caselib.ingest import IngestReport, Published, Quarantine, ingest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MANIFEST = load_manifest()
TOP_LEVEL = sorted({name.split("/")[0] for name in MANIFEST.datasets})

#: data sets whose every file must publish, with the number of files
MUST_PUBLISH = {
    "tcia-lung-ct": ("CT", 30),
    "ge-head-ct": ("CT", 28),
    "tcia-gbm-mr": ("MR", 24),
    "pediatric-brain-mr": ("MR", 192),
    "tcia-covid-ct-followup": ("CT", 12),
    "tcia-breast-pet": ("PT", 2),
}

_NO_SOP_CLASS = r"expected \(0008,0016\) SOP Class UID, found none"
_NO_STUDY = r"expected \(0020,000D\) Study Instance UID, found none"

#: pydicom test files that are broken on purpose: (key pattern, stage, reason regex, why)
DELIBERATELY_BROKEN = [
    ("pydicom/dicomdirtests/TINY_ALPHA/PT000000/*", "validate",
     r"expected \(7FE0,0010\) Pixel Data for CT Image Storage, found none", "media test files without pixels"),
    ("pydicom/charset/chrJapMulti*.dcm", "validate",
     r"expected \(7FE0,0010\) Pixel Data for Computed Radiography Image Storage, found none", "charset sample"),
    ("pydicom/charset/chrKoreanMulti.dcm", "validate",
     r"expected \(7FE0,0010\) Pixel Data for Computed Radiography Image Storage, found none", "charset sample"),
    ("pydicom/charset/chrSQEncoding*.dcm", "validate", _NO_SOP_CLASS, "a sequence fragment"),
    ("pydicom/empty_charset_LEI.dcm", "validate", _NO_SOP_CLASS, "a fragment"),
    ("pydicom/meta_missing_tsyntax.dcm", "validate", _NO_SOP_CLASS, "a fragment"),
    ("pydicom/nested_priv_SQ.dcm", "validate", _NO_SOP_CLASS, "a fragment"),
    ("pydicom/priv_SQ.dcm", "validate", _NO_SOP_CLASS, "a fragment"),
    ("pydicom/no_meta_group_length.dcm", "validate", _NO_SOP_CLASS, "a fragment"),
    ("pydicom/UN_sequence.dcm", "validate", _NO_SOP_CLASS, "a fragment"),
    ("pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm", "validate", _NO_SOP_CLASS, "cut short"),
    ("pydicom/JPEGLSNearLossless_*.dcm", "validate", _NO_STUDY, "codec sample without a study"),
    ("pydicom/SC_rgb_jls_lossy_*.dcm", "validate", _NO_STUDY, "codec sample without a study"),
    ("pydicom/MR_truncated.dcm", "validate",
     r"\(7FE0,0010\) Pixel Data holds 8130 bytes, expected 8192 .*\(truncated\?\)", "truncated pixel data"),
    ("pydicom/badVR.dcm", "validate",
     r"\(0028,0008\) Number of Frames.* found '1A'", "malformed IS"),
    ("pydicom/no_meta.dcm", "validate", r"found 38871 bytes that are not DICOM", "headerless, unreadable"),
    ("pydicom/rtplan_truncated.dcm", "validate", r"(?i)truncat", "the file ends inside a sequence"),
]

#: groups of pydicom test files that share SOP Instance UIDs but differ in content (lossy vs
#: lossless copies, 1-frame excerpts): one of each group is stored, the others are conflicts
SAME_UID_FAMILIES = [
    "pydicom/rtdose*.dcm", "pydicom/rtplan*.dcm",
    "pydicom/693_J2KI.dcm", "pydicom-data/693_*.dcm",
    "pydicom-data/MR2_*.dcm", "pydicom-data/US1_*.dcm",
    "pydicom-data/RG1_*.dcm", "pydicom-data/RG3_*.dcm",
    "pydicom/liver*.dcm", "pydicom-data/liver*.dcm",
    "pydicom/reportsi*.dcm",  # the same SR, one copy with empty numeric values
]
_CONFLICT = (r"\(0008,0018\) SOP Instance UID 2\.25\.\d+ is already stored at '.*' with different content "
             r"\(fingerprint [0-9a-f]+\.\.\., new [0-9a-f]+\.\.\.\); not written")


def _matches(key: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(key, p) for p in patterns)


def _is_dicomdir_index(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return name.upper().startswith("DICOMDIR")


# --------------------------------------------------------------------------- the ingest


@dataclass
class Outcome:
    kind: str            # published | quarantined | ignored
    label: str
    stage: str = ""
    reason: str = ""
    published: Published | None = None


@dataclass
class CorpusRun:
    src: Path
    archive: Path
    reports: dict[str, IngestReport] = field(default_factory=dict)
    crashes: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, list[Outcome]] = field(default_factory=lambda: defaultdict(list))  # by manifest key

    def key_of(self, label: str) -> str:
        return Path(label.split("::", 1)[0]).relative_to(self.src).as_posix()

    def dataset_of(self, key: str) -> str:
        return key.split("/", 1)[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusRun:
    entries = MANIFEST.select([])
    try:
        paths = fetch_many([e.key for e in entries], progress=False)
    except DataError as exc:
        pytest.skip(f"the manifest data is not available here: {str(exc)[:300]}")
    base = tmp_path_factory.mktemp("corpus")
    run = CorpusRun(base / "src", base / "archive")
    for entry, path in zip(entries, paths, strict=True):
        dest = run.src / entry.key
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy2(path, dest)
    for top in TOP_LEVEL:
        published: list[Published] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run.reports[top] = ingest(run.src / top, run.archive, workers=2, progress=False,
                                          on_published=published.append)
        except Exception:  # noqa: BLE001 - a crash is what one of the tests reports
            run.crashes[top] = traceback.format_exc(limit=-4)
        for p in published:
            run.outcomes[run.key_of(p.label)].append(Outcome("published", p.label, published=p))
        report = run.reports.get(top)
        for item in report.ignored_items if report else []:
            run.outcomes[run.key_of(item["label"])].append(Outcome("ignored", item["label"], reason=item["reason"]))
    for rec in Quarantine(ArchiveLayout.at(run.archive).quarantine):
        run.outcomes[run.key_of(rec.label)].append(Outcome("quarantined", rec.label, rec.stage, rec.reason))
    return run


def _keys_to_check(corpus: CorpusRun) -> list[str]:
    """Manifest keys of the data sets that did not crash (a crash is reported on its own)."""
    return [e.key for e in MANIFEST.select([]) if corpus.dataset_of(e.key) not in corpus.crashes]


def _published_keys(corpus: CorpusRun, dataset: str) -> list[str]:
    return sorted(k for k, outs in corpus.outcomes.items()
                  if corpus.dataset_of(k) == dataset and any(o.kind == "published" for o in outs))


# --------------------------------------------------------------------------- the run itself


@pytest.mark.parametrize("dataset", TOP_LEVEL)
def test_no_data_set_crashes_the_ingest(corpus: CorpusRun, dataset: str) -> None:
    assert dataset not in corpus.crashes, (
        f"ingest of {dataset} raised instead of quarantining:\n{corpus.crashes[dataset]}")


def test_every_manifest_file_is_accounted_for_with_a_reason(corpus: CorpusRun) -> None:
    """Each file is published, quarantined or ignored under its own label.

    Exception: a file whose bytes are identical to another manifest file's is handled
    once (the journal keys objects by the sha256 of their bytes) and counted as
    "done by an earlier run"; it is accounted for by its twin.
    """
    twins: dict[str, list[str]] = defaultdict(list)
    for entry in MANIFEST.select([]):
        twins[entry.sha256].append(entry.key)
    sha_of = {e.key: e.sha256 for e in MANIFEST.select([])}
    problems = []
    for key in _keys_to_check(corpus):
        outs = corpus.outcomes.get(key, [])
        if not outs and any(corpus.outcomes.get(t) for t in twins[sha_of[key]] if t != key):
            continue
        if not outs:
            problems.append(f"{key}: no outcome at all (silently dropped)")
        for o in outs:
            if o.kind != "published" and not o.reason.strip():
                problems.append(f"{key}: {o.kind} without a reason")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- what should publish does


@pytest.mark.parametrize("dataset", sorted(MUST_PUBLISH))
def test_clinical_series_publish_with_their_counts(corpus: CorpusRun, dataset: str) -> None:
    modality, n = MUST_PUBLISH[dataset]
    report = corpus.reports.get(dataset)
    assert report is not None, corpus.crashes.get(dataset)
    assert (report.published, report.quarantined, report.ignored) == (n, 0, 0), report.summary()
    assert report.by_modality == {modality: n}
    keys = [f.key for f in MANIFEST.datasets[dataset].files]
    assert _published_keys(corpus, dataset) == sorted(keys)
    series_uids = {o.published.series["series_uid"] for k in keys for o in corpus.outcomes[k] if o.published}
    with Catalog.open(corpus.archive, readonly=True) as catalog:
        series = catalog.series()
    rows = series[series["series_uid"].isin(series_uids)]
    assert set(rows["modality"]) == {modality}
    assert int(rows["n_instances"].sum()) == n, rows[["series_uid", "n_instances"]].to_string()


def test_catalog_lists_the_published_modalities(corpus: CorpusRun) -> None:
    published = {o.published.modality for outs in corpus.outcomes.values() for o in outs if o.published}
    with Catalog.open(corpus.archive, readonly=True) as catalog:
        series = catalog.series()
        instances = sqlite3.connect(f"file:{corpus.archive / 'catalog.sqlite'}?mode=ro", uri=True).execute(
            "SELECT COUNT(*) FROM instances").fetchone()[0]
    modalities = set(series["modality"])
    assert modalities == published
    assert {"CT", "MR", "PT", "CR", "DX"} <= modalities
    stored = sum(1 for _ in (corpus.archive / "objects").rglob("*.dcm"))
    assert instances == stored


def test_series_instance_counts_match_the_instances(corpus: CorpusRun) -> None:
    """(series.n_instances) must equal the instances the catalog lists for it."""
    conn = sqlite3.connect(f"file:{corpus.archive / 'catalog.sqlite'}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT s.series_uid, s.modality, s.n_instances, COUNT(i.instance_pk) FROM series s "
        "LEFT JOIN instances i ON i.series_pk = s.series_pk GROUP BY s.series_pk").fetchall()
    conn.close()
    crashed = {o.published.series["series_uid"] for k, outs in corpus.outcomes.items()
               if corpus.dataset_of(k) in corpus.crashes for o in outs if o.published}
    wrong = [(uid, mod, n, count, [k for k, outs in corpus.outcomes.items()
                                   for o in outs if o.published and o.published.series["series_uid"] == uid])
             for uid, mod, n, count in rows if n != count and uid not in crashed]
    assert not wrong, "series whose n_instances is wrong (uid, modality, n_instances, instances, files):\n" + \
        "\n".join(map(str, wrong))


# --------------------------------------------------------------------------- what should not publish does not


def _records_for(corpus: CorpusRun, prefix: str) -> list[Outcome]:
    return [o for k, outs in corpus.outcomes.items() if k.startswith(prefix) for o in outs]


def _held_or_released_with_a_decision(key: str, outs: list[Outcome]) -> str:
    """'' when the object went to quarantine at pixel-phi, or was published with a pixel decision."""
    if [(o.kind, o.stage) for o in outs] == [("quarantined", "pixel-phi")]:
        if re.search(r"^pixels may carry burned-in identifiers: .*modality US usually carries burned-in text",
                     outs[0].reason):
            return ""
        return f"{key}: quarantined at pixel-phi with an unexpected reason {outs[0].reason!r}"
    if [o.kind for o in outs] == ["published"]:
        decision = outs[0].published.pixel_decision
        if decision and re.match(r"(mask \S+|reviewed clean) \(", decision):
            return ""
        return f"{key}: published WITHOUT a pixel-PHI decision (decision={decision!r})"
    return f"{key}: {[(o.kind, o.stage, o.reason[-100:]) for o in outs]}"


def test_deid_data_ultrasounds_are_held_for_burned_in_phi(corpus: CorpusRun) -> None:
    """Quarantined at pixel-phi, or published only with a reviewed pixel decision (a mask)."""
    keys = [f.key for f in MANIFEST.datasets["deid-data"].files if "/ultrasounds/" in f.key]
    assert len(keys) == 5
    problems = [p for k in keys if (p := _held_or_released_with_a_decision(k, corpus.outcomes.get(k, [])))]
    assert not problems, "\n".join(problems)
    for key in keys:
        for o in corpus.outcomes[key]:
            if key.endswith(".zip"):
                assert "::" in o.label, "zip members are labelled zip::member"
            if o.kind == "quarantined" and ("GREYSCALE" in key or "multiframe" in key):
                assert "Burned In Annotation (0028,0301) is YES" in o.reason, o.reason


def test_us1_unci_is_held_for_burned_in_phi(corpus: CorpusRun, tmp_path: Path) -> None:
    """NEMA US1 alone in an archive: held at pixel-phi, or published with a reviewed decision.

    In the corpus it shares its SOP Instance UID with US1_J2KI/J2KR/UNCR, so there it may
    also be the conflicting copy of whichever of them was stored first.
    """
    key = "pydicom-data/US1_UNCI.dcm"
    published: list[Published] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest(fetch(key), tmp_path / "archive", workers=1, progress=False, on_published=published.append)
    alone = [Outcome("published", p.label, published=p) for p in published]
    alone += [Outcome("quarantined", r.label, r.stage, r.reason)
              for r in Quarantine(ArchiveLayout.at(tmp_path / "archive").quarantine)]
    assert _held_or_released_with_a_decision(key, alone) == ""
    in_corpus = corpus.outcomes.get(key, [])
    if corpus.dataset_of(key) not in corpus.crashes:
        conflict = [(o.kind, o.stage) for o in in_corpus] == [("quarantined", "duplicate")]
        assert conflict or _held_or_released_with_a_decision(key, in_corpus) == "", in_corpus


def test_objects_with_pixel_phi_risk_publish_only_with_a_decision(corpus: CorpusRun) -> None:
    """No object whose header says its pixels may carry identifiers is published silently."""
    from caselib.deid import pixel_phi_risk

    silent = []
    for key, outs in corpus.outcomes.items():
        for o in outs:
            if not o.published or o.published.pixel_decision:
                continue
            path, _, member = o.label.partition("::")
            if member:
                with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
                    ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
            else:
                ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            if pixel_phi_risk(ds):
                silent.append(f"{key}: {pixel_phi_risk(ds)}")
    assert not silent, "published without a pixel-PHI decision:\n" + "\n".join(silent)


def test_deliberately_broken_files_are_refused_for_what_is_wrong(corpus: CorpusRun) -> None:
    problems, used = [], Counter()
    for key in _keys_to_check(corpus):
        for pattern, stage, reason, why in DELIBERATELY_BROKEN:
            if fnmatch.fnmatch(key, pattern):
                used[pattern] += 1
                outs = corpus.outcomes.get(key, [])
                if [(o.kind, o.stage) for o in outs] != [("quarantined", stage)]:
                    problems.append(f"{key} ({why}): expected quarantine at {stage}, found "
                                    f"{[(o.kind, o.stage, o.reason[-120:]) for o in outs]}")
                elif not re.search(reason, outs[0].reason):
                    problems.append(f"{key}: reason {outs[0].reason!r} does not match {reason!r}")
    assert not problems, "\n".join(problems)
    unused = [p for p, *_ in DELIBERATELY_BROKEN if not used[p] and not p.startswith("pydicom-data/")]
    assert not unused, f"patterns that match no manifest file (the manifest changed?): {unused}"


def test_everything_else_ingests_or_is_quarantined_for_burned_in_phi(corpus: CorpusRun) -> None:
    """The requirement, for every file not covered by a dedicated test above or below."""
    problems = []
    for key in _keys_to_check(corpus):
        if _is_dicomdir_index(key) or any(fnmatch.fnmatch(key, p) for p, *_ in DELIBERATELY_BROKEN):
            continue
        for o in corpus.outcomes.get(key, []):
            if o.kind == "published" or (o.kind == "quarantined" and o.stage == "pixel-phi"):
                continue
            if o.kind == "quarantined" and o.stage == "verify":
                continue  # test_no_manifest_file_is_refused_by_the_verifier
            if o.kind == "quarantined" and o.stage == "duplicate" and _matches(key, SAME_UID_FAMILIES):
                if re.search(_CONFLICT, o.reason):
                    continue
            problems.append(f"{key}: {o.kind} at {o.stage or '-'}: {o.reason.replace(str(corpus.src), '')[:240]}")
    assert not problems, "files that neither ingest nor are quarantined for burned-in PHI:\n" + "\n".join(problems)


def test_no_manifest_file_is_refused_by_the_verifier(corpus: CorpusRun) -> None:
    """A 'residual PHI' hit on data the profile already cleaned is a false positive of the verifier."""
    refused = sorted(f"{corpus.key_of(o.label)}: {o.reason[:200]}" for outs in corpus.outcomes.values()
                     for o in outs if o.kind == "quarantined" and o.stage == "verify"
                     and corpus.dataset_of(corpus.key_of(o.label)) not in corpus.crashes)
    assert not refused, "refused by the residual-PHI verifier:\n" + "\n".join(refused)


def test_dicomdir_indexes_are_ignored_not_quarantined(corpus: CorpusRun) -> None:
    keys = [k for k in _keys_to_check(corpus) if _is_dicomdir_index(k)]
    assert len(keys) >= 7
    wrong = {k: [(o.kind, o.stage, o.reason[-80:]) for o in corpus.outcomes.get(k, [])] for k in keys
             if [o.kind for o in corpus.outcomes.get(k, [])] != ["ignored"]}
    assert not wrong, "DICOMDIR files not reported as ignored indexes:\n" + "\n".join(
        f"{k}: {v}" for k, v in wrong.items())


# --------------------------------------------------------------------------- prior / current pairs


def test_covid_pairs_keep_one_pseudonym_and_the_interval(corpus: CorpusRun) -> None:
    files = [f.key for f in MANIFEST.datasets["tcia-covid-ct-followup"].files]
    by_patient: dict[str, list[str]] = defaultdict(list)
    for key in files:
        by_patient[key.split("/")[1]].append(key)
    assert len(by_patient) == 6 and all(len(v) == 2 for v in by_patient.values())
    with Catalog.open(corpus.archive, readonly=True) as catalog:
        studies = catalog.studies().set_index("study_uid")
    pseudonyms = {}
    for patient, keys in sorted(by_patient.items()):
        originals, shifted, who = [], [], set()
        for key in keys:
            ds = pydicom.dcmread(corpus.src / key, stop_before_pixels=True)
            originals.append(date(int(ds.StudyDate[:4]), int(ds.StudyDate[4:6]), int(ds.StudyDate[6:8])))
            (pub,) = [o.published for o in corpus.outcomes[key] if o.published]
            row = studies.loc[pub.study["study_uid"]]
            who.add(row["patient_pseudonym"])
            shifted.append(row["study_date"].date())
            assert pub.study["study_uid"] != str(ds.StudyInstanceUID)
        assert len(who) == 1, f"{patient}: the two studies got different pseudonyms {who}"
        assert len({o.published.study["study_uid"] for k in keys for o in corpus.outcomes[k] if o.published}) == 2
        assert originals[0] != originals[1], f"{patient}: the manifest pair is not two dates"
        assert (shifted[1] - shifted[0]).days == (originals[1] - originals[0]).days, (
            f"{patient}: interval {originals[1] - originals[0]} became {shifted[1] - shifted[0]}")
        pseudonyms[patient] = who.pop()
    assert len(set(pseudonyms.values())) == 6, pseudonyms
    assert all(re.fullmatch(r"CL-\d{6}", p) for p in pseudonyms.values()), pseudonyms


# --------------------------------------------------------------------------- one object, two encodings


def test_the_same_object_in_another_sequence_encoding_is_unchanged_not_a_conflict(tmp_path: Path) -> None:
    """pydicom/liver_1frame.dcm and liver_expb_1frame.dcm hold the same object (same elements,
    same decoded pixels), the second with defined-length sequences.  The store fingerprint
    encodes sequences with the input's length style, so the second is refused as a conflict."""
    try:
        first, second = fetch("pydicom/liver_1frame.dcm"), fetch("pydicom/liver_expb_1frame.dcm")
    except DataError as exc:
        pytest.skip(str(exc)[:200])
    a, b = pydicom.dcmread(first), pydicom.dcmread(second)
    assert (a.pixel_array == b.pixel_array).all() and a.SOPInstanceUID == b.SOPInstanceUID
    archive = tmp_path / "archive"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r1 = ingest(first, archive, workers=1, progress=False)
        r2 = ingest(second, archive, workers=1, progress=False)
    assert r1.published == 1, r1.summary()
    assert (r2.unchanged, r2.quarantined) == (1, 0), r2.summary()
