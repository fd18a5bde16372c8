"""caselib.catalog: schema, upserts, search and facets, case tree, DataFrame views."""
from __future__ import annotations

import doctest
import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import caselib.catalog as catalog_pkg
from caselib.catalog import (
    CATALOG_FILENAME,
    SCHEMA_VERSION,
    CaseNotFoundError,
    CaseRecord,
    Catalog,
    CatalogError,
    CatalogSchemaError,
    Difficulty,
    FullTextUnavailableError,
    InstanceRecord,
    OrganSystem,
    PatientRecord,
    SeriesRecord,
    StudyRecord,
    format_catalog_summary,
)
from caselib.catalog import core as catalog_core
from caselib.catalog.schema import MIGRATIONS, migrate

ROOT = Path(__file__).resolve().parents[1]
TS = "1.2.840.10008.1.2.1"

# --------------------------------------------------------------------------- a small hand-made catalog
#
# case       system           difficulty    tags                series (modality)        synthetic
# lung1      respiratory      intermediate  PBL, oncology       S1 CT, S2 CT
# lung2      respiratory      advanced      oncology            S1 CT, S4 CR
# ptx        respiratory      primary       emergency, 急诊      S4 CR, S8 CT ("Lung window 5 mm")
# glioma     cns              advanced      oncology            S3 MR
# breast     breast           intermediate  PBL                 S5 MG, S6 US
# hcc        digestive        intermediate  -                   S7 CT, 1.9.9.9 (not ingested)  yes
# fx         musculoskeletal  primary       trauma              -

PATIENTS = [PatientRecord("P1", "F", "061Y"), PatientRecord("P2", "M", "045Y"),
            PatientRecord("P3", "F", "052Y"), PatientRecord("P4", sex=None, age="006M", synthetic=True)]
STUDIES = [StudyRecord("1.1", "P1", "2031-04-07", "A1", "CT chest"),
           StudyRecord("1.2", "P2", "2032-01-15", None, "MR brain 头颅"),
           StudyRecord("1.3", "P3", "2030-11-30", None, "Breast imaging"),
           StudyRecord("1.4", "P4", "2033-06-01", None, "CT abdomen")]
SERIES = [SeriesRecord("S1", "1.1", "CT", "CHEST", "Lung window 1 mm", 1, n_instances=3, n_frames=3,
                       rows=512, columns=512, pixel_spacing=(0.7, 0.7), slice_thickness=1.0),
          SeriesRecord("S2", "1.1", "CT", "CHEST", "Mediastinal window", 2, n_instances=2, n_frames=2,
                       geometry_warnings=("uneven slice spacing",)),
          SeriesRecord("S3", "1.2", "MR", "BRAIN", "Axial T2 FLAIR 轴位", 1, n_instances=1, n_frames=1),
          SeriesRecord("S4", "1.1", "CR", "CHEST", "PA chest 正位", 3, n_instances=1, n_frames=1),
          SeriesRecord("S5", "1.3", "MG", "BREAST", "CC", 1, n_instances=1, n_frames=1),
          SeriesRecord("S6", "1.3", "US", "BREAST", "彩色多普勒", 2, n_instances=1, n_frames=1),
          SeriesRecord("S7", "1.4", "CT", "ABDOMEN", "Portal venous phase", 1, n_instances=1, n_frames=1),
          SeriesRecord("S8", "1.1", "CT", "CHEST", "Lung window 5 mm", 4, n_instances=1, n_frames=1)]
CASES = [
    CaseRecord("lung1", "Peripheral lung cancer", "周围型肺癌", "respiratory", "Lung cancer", "肺癌",
               "intermediate", ("PBL", "oncology"), series_uids=("S1", "S2")),
    CaseRecord("lung2", "Central lung cancer with atelectasis", "中央型肺癌伴肺不张", "呼吸系统",
               "Lung cancer", "肺癌", "advanced", ("oncology",), series_uids=("S1", "S4")),
    CaseRecord("ptx", "Spontaneous pneumothorax", "自发性气胸", OrganSystem.RESPIRATORY, "Pneumothorax",
               "气胸", Difficulty.PRIMARY, ("emergency", "急诊"), series_uids=("S4", "S8")),
    CaseRecord("glioma", "Glioblastoma", "胶质母细胞瘤", "cns", "Glioblastoma", "胶质母细胞瘤",
               "高级", ("oncology",), series_uids=("S3",)),
    CaseRecord("breast", "Invasive ductal carcinoma", "浸润性导管癌", "乳腺", "Breast cancer", "乳腺癌",
               "intermediate", ("PBL",), series_uids=("S5", "S6")),
    CaseRecord("hcc", "Hepatocellular carcinoma", "肝细胞癌", "digestive", "Hepatocellular carcinoma",
               "肝细胞癌", "intermediate", (), synthetic=True, series_uids=("S7", "1.9.9.9")),
    CaseRecord("fx", "Scaphoid fracture", "舟骨骨折", "骨骼肌肉系统", "Fracture", "骨折", "primary",
               ("trauma",)),
]


def _instances() -> list[InstanceRecord]:
    out = []
    for s in SERIES:
        for k in range(1, s.n_instances + 1):
            out.append(InstanceRecord(f"{s.series_uid}.{k}", s.series_uid, k, f"files/{s.series_uid}/{k}.dcm",
                                      f"{k:064x}", 1000 * k, TS))
    return out


def load(cat: Catalog) -> None:
    with cat.transaction():
        cat.add_patients(PATIENTS)
        cat.add_studies(STUDIES)
        cat.add_series(SERIES)
        cat.add_instances(_instances())
        cat.add_cases(CASES)


@pytest.fixture
def cat(tmp_path: Path):
    c = Catalog.open(tmp_path)
    load(c)
    yield c
    c.close()


def ids(result) -> list[str]:
    return [r.case_id for r in result.rows]


def dump(conn: sqlite3.Connection) -> dict[str, list]:
    tables = ["patients", "studies", "series", "instances", "cases", "case_tags", "case_series",
              "case_modalities", "case_fts", "series_fts", "organ_systems"]
    return {t: sorted(map(tuple, conn.execute(f"SELECT rowid, * FROM {t}" if "fts" in t else
                                              f"SELECT * FROM {t}")), key=repr) for t in tables}


# --------------------------------------------------------------------------- schema and opening


def test_open_archive_dir_creates_schema_in_wal_with_foreign_keys(tmp_path):
    with Catalog.open(tmp_path) as cat:
        assert Path(cat.path) == tmp_path / CATALOG_FILENAME
        assert cat.schema_version == SCHEMA_VERSION == MIGRATIONS[-1].version
        conn = cat.connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [m.version for m in MIGRATIONS]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"patients", "studies", "series", "instances", "cases", "case_tags", "case_series",
                "case_modalities", "organ_systems", "case_fts", "series_fts"} <= names
        systems = conn.execute("SELECT code, label_en, label_zh FROM organ_systems ORDER BY sort_order").fetchall()
        assert [s[0] for s in systems] == [s.value for s in OrganSystem]


def test_reopen_is_idempotent(tmp_path):
    Catalog.open(tmp_path).close()
    with Catalog.open(tmp_path) as cat:
        assert migrate(cat.connection) == []
        assert cat.connection.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
        assert cat.connection.execute("SELECT COUNT(*) FROM organ_systems").fetchone()[0] == 9


def test_migration_from_version_2_keeps_data_and_fills_full_text(tmp_path):
    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrate(conn, target=2) == [1, 2]
    conn.execute("INSERT INTO patients(pseudonym) VALUES ('P1')")
    conn.execute("INSERT INTO studies(study_uid, patient_pk, description) VALUES ('1.1', 1, 'CT chest')")
    conn.execute("INSERT INTO series(series_uid, study_pk, modality, description) "
                 "VALUES ('S1', 1, 'CT', 'Lung window')")
    conn.execute("INSERT INTO cases(case_id, title_en, title_zh, organ_system, difficulty) "
                 "VALUES ('c1', 'Lung cancer', '肺癌', 'respiratory', 'primary')")
    conn.execute("INSERT INTO case_series(case_pk, series_uid, position) VALUES (1, 'S1', 0)")
    conn.close()
    with Catalog.open(db) as cat:
        assert cat.schema_version == SCHEMA_VERSION
        assert ids(cat.search("肺癌")) == ["c1"]
        assert ids(cat.search("window")) == ["c1"]        # series text of a migrated link
        assert cat.search(modality="CT").total == 1        # case_modalities rebuilt
        assert cat.search_series("lung").total == 1


def test_newer_schema_is_refused(tmp_path):
    Catalog.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / CATALOG_FILENAME)
    conn.execute("INSERT INTO schema_version(version, description) VALUES (99, 'from the future')")
    conn.commit()
    conn.close()
    with pytest.raises(CatalogSchemaError, match="schema version 99 is newer than this caselib"):
        Catalog.open(tmp_path)


def test_readonly(tmp_path):
    with pytest.raises(CatalogError, match="no catalog at"):
        Catalog.open(tmp_path, readonly=True)
    with Catalog.open(tmp_path) as cat:
        load(cat)
    with Catalog.open(tmp_path, readonly=True) as ro:
        assert ro.search("肺癌").total == 2
        with pytest.raises(CatalogError, match="read-only"):
            ro.add_patients([PatientRecord("P9")])
    db = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, target=1)
    conn.close()
    with pytest.raises(CatalogSchemaError, match="schema version 1, this caselib needs"):
        Catalog.open(db, readonly=True)


def test_missing_fts5_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(catalog_core, "has_fts5", lambda conn: False)
    with pytest.raises(FullTextUnavailableError, match="built without FTS5"):
        Catalog.open(tmp_path)


def test_open_in_missing_folder(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        Catalog.open(tmp_path / "nope" / "catalog.sqlite")


# --------------------------------------------------------------------------- writes


def test_upsert_twice_converges_to_the_same_rows(cat):
    before = dump(cat.connection)
    load(cat)
    cat.add_cases(reversed(CASES))
    assert dump(cat.connection) == before
    s = cat.summary()
    assert (s.n_patients, s.n_studies, s.n_series, s.n_instances, s.n_cases) == (4, 4, 8, 11, 7)


def test_upsert_updates_fields_and_full_text(cat):
    cat.add_series([SeriesRecord("S3", "1.2", "MR", "BRAIN", "Sagittal T1 矢状位", 1)])
    assert cat.search("flair").total == 0
    assert ids(cat.search("矢状位")) == ["glioma"]
    assert ids(cat.search("sagittal")) == ["glioma"]
    assert [r.series_uid for r in cat.search_series("sagittal").rows] == ["S3"]
    cat.add_studies([StudyRecord("1.2", "P2", "2032-01-15", None, "Neuro oncology protocol")])
    assert ids(cat.search("protocol")) == ["glioma"]   # study text reaches the linked case
    cat.add_case(CaseRecord("fx", "Scaphoid waist fracture", "舟骨腰部骨折", "musculoskeletal",
                            "Fracture", "骨折", "advanced", ("trauma", "hand")))
    row = cat.get_case("fx")
    assert (row.title_en, row.difficulty, row.tags) == ("Scaphoid waist fracture", Difficulty.ADVANCED,
                                                        ("hand", "trauma"))
    assert cat.search(tags="hand").total == 1


def test_writes_need_their_parents_and_roll_back(cat):
    n = cat.summary().n_studies
    with pytest.raises(CatalogError, match=r"1 patient pseudonym\(s\) not in the catalog: P404"):
        cat.add_studies([StudyRecord("2.1", "P1"), StudyRecord("2.2", "P404")])
    assert cat.summary().n_studies == n                     # the good one was rolled back too
    with pytest.raises(CatalogError, match=r"study UID\(s\) not in the catalog: 9\.9"):
        cat.add_series([SeriesRecord("S99", "9.9", "CT")])
    with pytest.raises(CatalogError, match="series UID not in the catalog"):
        cat.add_instances([InstanceRecord("x.1", "S404", 1, "a/b.dcm", "0" * 64, 1, TS)])


def test_transaction_is_atomic_and_nests(cat):
    with pytest.raises(RuntimeError):
        with cat.transaction():
            cat.add_patients([PatientRecord("P10")])
            with cat.transaction():
                cat.add_patients([PatientRecord("P11")])
            raise RuntimeError("boom")
    assert set(cat.patients()["pseudonym"]) == {"P1", "P2", "P3", "P4"}
    with cat.transaction():
        cat.add_patients([PatientRecord("P10")])
        with pytest.raises(RuntimeError):
            with cat.transaction():
                cat.add_patients([PatientRecord("P11")])
                raise RuntimeError("inner only")
    assert set(cat.patients()["pseudonym"]) == {"P1", "P2", "P3", "P4", "P10"}


def test_links_and_removal(cat):
    cat.link_series("fx", ["S4"])
    assert cat.get_case("fx").series_uids == ("S4",)
    assert cat.search(modality="CR").total == 3
    cat.link_series("fx", ["S1"])
    assert cat.get_case("fx").series_uids == ("S4", "S1")
    cat.link_series("fx", ["S3"], replace=True)
    assert cat.get_case("fx").modalities == ("MR",)
    with pytest.raises(CaseNotFoundError, match="no case 'nope'"):
        cat.link_series("nope", ["S1"])
    assert cat.remove_case("glioma") is True
    assert cat.remove_case("glioma") is False
    assert cat.search("glioblastoma").total == 0
    assert cat.search(organ_system="cns").total == 0
    with pytest.raises(CaseNotFoundError):
        cat.get_case("glioma")
    assert cat.summary().n_series == 8                     # series stay


def test_a_link_resolves_when_its_series_arrives_later(cat):
    assert cat.get_case("hcc").modalities == ("CT",)
    assert cat.summary().n_dangling_links == 1
    cat.add_series([SeriesRecord("1.9.9.9", "1.4", "MR", "LIVER", "Hepatobiliary phase late arrival")])
    assert cat.get_case("hcc").modalities == ("CT", "MR")
    assert ids(cat.search("arrival")) == ["hcc"]
    assert ids(cat.search(modality="MR", organ_system="digestive")) == ["hcc"]
    assert cat.summary().n_dangling_links == 0


def test_records_validate_on_construction():
    with pytest.raises(ValueError, match="64 lower-case hex"):
        InstanceRecord("1", "S", 1, "a.dcm", "XYZ", 1, TS)
    for bad in ("/abs/a.dcm", "a/../../etc/passwd", "C:/x.dcm", "a\\b.dcm"):
        with pytest.raises(ValueError, match="relative to the archive root"):
            InstanceRecord("1", "S", 1, bad, "0" * 64, 1, TS)
    with pytest.raises(ValueError, match=r"DICOM Age String like '045Y' \(\(0010,1010\)"):
        PatientRecord("P", age="45")
    with pytest.raises(ValueError, match="ISO date"):
        StudyRecord("1", "P", study_date="07/04/2031")
    with pytest.raises(ValueError, match="unknown organ system 'thorax': expected one of cns, head_neck"):
        CaseRecord("c", "t", "", "thorax")
    with pytest.raises(ValueError, match="needs title_en or title_zh"):
        CaseRecord("c", "", "", "cns")
    with pytest.raises(ValueError, match="unknown difficulty 'expert'"):
        CaseRecord("c", "t", "", "cns", difficulty="expert")
    s = SeriesRecord("S", "1", " mr ", body_part="brain", geometry_warnings="one warning")
    assert (s.modality, s.body_part, s.geometry_warnings) == ("MR", "BRAIN", ("one warning",))
    c = CaseRecord("c", "t", "", "头颈部", tags=["PBL", "pbl", " two  words "], series_uids=["a", "a", "b"])
    assert c.tags == ("PBL", "two words") and c.series_uids == ("a", "b")
    assert PatientRecord("P", age="006M").age_years == 0.5


def test_organ_systems_are_the_nine_with_chinese_labels():
    assert [(s.value, s.label_zh) for s in OrganSystem] == [
        ("cns", "中枢神经系统"), ("head_neck", "头颈部"), ("respiratory", "呼吸系统"),
        ("cardiovascular", "循环系统"), ("breast", "乳腺"), ("digestive", "消化系统"),
        ("urinary", "泌尿系统"), ("reproductive", "生殖系统"), ("musculoskeletal", "骨骼肌肉系统")]
    for s in OrganSystem:
        assert OrganSystem.parse(s.label_en) is s and OrganSystem.parse(s.label_zh) is s
    assert OrganSystem.parse("心血管系统") is OrganSystem.CARDIOVASCULAR
    assert OrganSystem.parse("Head & Neck") is OrganSystem.HEAD_NECK
    assert [Difficulty.parse(x) for x in ("初级", "中级", "高级")] == list(Difficulty)


# --------------------------------------------------------------------------- full-text search


@pytest.mark.parametrize("text, expected", [
    ("lung cancer", {"lung1", "lung2"}),
    ("LUNG   Cancer", {"lung1", "lung2"}),
    ("cancers", {"lung1", "lung2", "breast"}),          # porter stemming: cancers -> cancer
    ("pneumo", {"ptx"}),                                  # prefix
    ("carcinoma", {"breast", "hcc"}),
    ("肺癌", {"lung1", "lung2"}),
    ("周围型肺癌", {"lung1"}),                              # longer run: bigram phrase
    ("型肺", {"lung1", "lung2"}),                           # inside a run
    ("癌", {"lung1", "lung2", "breast", "hcc"}),          # single character
    ("张", {"lung2"}),                                     # the last character of a run
    ("肺 cancer", {"lung1", "lung2"}),                    # mixed languages
    ("胶质母细胞瘤", {"glioma"}),
    ("急诊", {"ptx"}),                                     # a Chinese tag
    ("emergency", {"ptx"}),
    ("轴位", {"glioma"}),                                  # series description
    ("flair", {"glioma"}),
    ("头颅", {"glioma"}),                                  # study description
    ("window", {"lung1", "lung2", "ptx"}),
    ("呼吸系统", {"lung1", "lung2", "ptx"}),                # organ system label
    ("骨骼肌肉", {"fx"}),
    ("lung 气胸", {"ptx"}),
    ("肝癌", set()),                                       # 肝细胞癌 does not contain 肝癌
    ("zzz", set()),
])
def test_full_text_english_and_chinese(cat, text, expected):
    assert set(ids(cat.search(text))) == expected


@pytest.mark.parametrize("text", [
    "'); DROP TABLE cases;--", '"', '""', "*", "lung*", "NEAR(", "NEAR(lung cancer, 2)", "a OR b",
    "NOT lung", "lung AND", "^lung", "title:lung", "{title}: lung", "(", ")", "'", "\\", "%", "_",
    "-lung", "+", "lung\x00", "\x00", "\ud800lung", "lung\ttab", "肺癌\"*", "：“肺癌”", "　",
])
def test_user_text_is_never_fts_or_sql_syntax(cat, text):
    res = cat.search(text)
    assert res.total >= 0
    assert cat.search_series(text).total >= 0
    assert cat.connection.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 7


def test_injection_in_filters_is_inert(cat):
    evil = "'); DROP TABLE cases;--"
    assert cat.search(modality=evil).total == 0
    assert cat.search(tags=[evil]).total == 0
    assert cat.series(modality=evil).empty
    with pytest.raises(ValueError, match="unknown organ system"):
        cat.search(organ_system=evil)
    with pytest.raises(CaseNotFoundError):
        cat.get_case(evil)
    assert cat.search("lung cancer NEAR(").total == 0
    assert cat.connection.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 7


def test_punctuation_only_text_means_no_text_filter(cat):
    assert cat.search(' " * ( ').total == 7


# --------------------------------------------------------------------------- facets


def test_facets_hand_checked(cat):
    res = cat.search()
    assert res.total == 7
    assert res.facets["organ_system"] == {"cns": 1, "head_neck": 0, "respiratory": 3, "cardiovascular": 0,
                                          "breast": 1, "digestive": 1, "urinary": 0, "reproductive": 0,
                                          "musculoskeletal": 1}
    assert res.facets["difficulty"] == {"primary": 2, "intermediate": 3, "advanced": 2}
    assert res.facets["modality"] == {"CT": 4, "CR": 2, "MG": 1, "MR": 1, "US": 1}
    assert list(res.facets["modality"]) == ["CT", "CR", "MG", "MR", "US"]   # most frequent first

    res = cat.search("肺癌")
    assert res.total == 2
    assert res.facets["modality"] == {"CT": 2, "CR": 1}
    assert res.facets["difficulty"] == {"primary": 0, "intermediate": 1, "advanced": 1}
    assert res.facets["organ_system"]["respiratory"] == 2 and sum(res.facets["organ_system"].values()) == 2

    res = cat.search(modality="CT", difficulty="intermediate")
    assert set(ids(res)) == {"lung1", "hcc"}
    assert res.facets["organ_system"]["digestive"] == 1

    assert set(ids(cat.search(tags="pbl"))) == {"lung1", "breast"}
    assert ids(cat.search(tags=["PBL", "Oncology"])) == ["lung1"]
    assert ids(cat.search(synthetic=True)) == ["hcc"]
    assert cat.search(synthetic=False).total == 6
    assert set(ids(cat.search(organ_system=["cns", "乳腺"]))) == {"glioma", "breast"}
    assert set(ids(cat.search(modality=["mg", "MR"]))) == {"glioma", "breast"}
    assert set(ids(cat.search("癌", difficulty=["中级"]))) == {"lung1", "breast", "hcc"}
    res = cat.search("window", organ_system="respiratory", modality="CR")
    assert set(ids(res)) == {"lung2", "ptx"} and res.facets["modality"] == {"CT": 2, "CR": 2}


def test_paging_and_order(cat):
    everything = ids(cat.search())
    assert everything == sorted(everything)                       # no text: by case_id
    pages = [ids(cat.search(limit=3, offset=o)) for o in (0, 3, 6, 9)]
    assert sum(pages, []) == everything and pages[-1] == []
    assert cat.search(limit=0).rows == [] and cat.search(limit=0).total == 7
    with pytest.raises(ValueError, match="limit must be an int >= 0"):
        cat.search(limit=-1)
    with pytest.raises(ValueError, match="offset must be an int >= 0"):
        cat.search(offset=-5)
    res = cat.search("lung")                                      # bm25: title matches first
    assert ids(res)[-1] == "ptx" and set(ids(res)[:2]) == {"lung1", "lung2"}
    assert all(r.score is not None for r in res.rows)
    assert [r.score for r in res.rows] == sorted(r.score for r in res.rows)


def test_broad_text_orders_title_and_diagnosis_matches_first(cat, monkeypatch):
    monkeypatch.setattr(catalog_core, "BM25_MAX_MATCHES", 0)     # force the many-matches ordering
    res = cat.search("lung")
    assert ids(res) == ["lung1", "lung2", "ptx"] and res.rows[0].score is None
    assert ids(cat.search("lung", limit=1, offset=2)) == ["ptx"]
    assert ids(cat.search("lung", limit=2, offset=1)) == ["lung2", "ptx"]


def test_search_rows_carry_everything_a_browser_shows(cat):
    row = cat.search("周围型").rows[0]
    assert row.case_id == "lung1" and row.title_zh == "周围型肺癌"
    assert row.organ_system is OrganSystem.RESPIRATORY and row.difficulty is Difficulty.INTERMEDIATE
    assert row.tags == ("oncology", "PBL")                     # sorted case-insensitively
    assert row.modalities == ("CT",) and row.series_uids == ("S1", "S2")
    frame = cat.search("癌").to_frame()
    assert set(frame["case_id"]) == {"lung1", "lung2", "breast", "hcc"}
    assert frame["organ_system"].iloc[0] in {s.value for s in OrganSystem}


def test_facets_and_pages_match_brute_force_on_random_catalog(tmp_path):
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "肺结节", "骨折", "脑梗死"]
    mods = ["CT", "MR", "CR", "US"]
    tags = ["t1", "t2", "t3"]
    cat = Catalog.open(tmp_path)
    cat.add_patients([PatientRecord("P")])
    cat.add_studies([StudyRecord("1", "P")])
    cat.add_series([SeriesRecord(f"S{m}", "1", m) for m in mods])
    truth = {}
    records = []
    for i in range(300):
        word = rng.choice(words)
        rec = CaseRecord(f"c{rng.randrange(10**6):06d}-{i}", f"case {word}", "", rng.choice(list(OrganSystem)),
                         difficulty=rng.choice(list(Difficulty)), tags=rng.sample(tags, rng.randint(0, 2)),
                         synthetic=rng.random() < 0.3,
                         series_uids=[f"S{m}" for m in rng.sample(mods, rng.randint(0, 2))])
        records.append(rec)
    cat.add_cases(records)
    for rec in records[::7]:                                     # holes in case_pk
        cat.remove_case(rec.case_id)
    truth = {r.case_id: r for r in records[:]}
    for rec in records[::7]:
        del truth[rec.case_id]
    for _ in range(120):
        q = {}
        if rng.random() < 0.5:
            q["text"] = rng.choice(words)
        if rng.random() < 0.4:
            q["organ_system"] = rng.sample([s.value for s in OrganSystem], rng.randint(1, 3))
        if rng.random() < 0.4:
            q["modality"] = rng.choice(mods)
        if rng.random() < 0.3:
            q["difficulty"] = rng.choice(list(Difficulty)).value
        if rng.random() < 0.3:
            q["tags"] = [rng.choice(tags)]
        if rng.random() < 0.2:
            q["synthetic"] = rng.random() < 0.5

        def keep(r):
            mods_r = {u[1:] for u in r.series_uids}
            return ((q.get("text") is None or q["text"] in r.title_en)
                    and (not q.get("organ_system") or r.organ_system.value in q["organ_system"])
                    and (not q.get("modality") or q["modality"] in mods_r)
                    and (not q.get("difficulty") or r.difficulty.value == q["difficulty"])
                    and all(t in r.tags for t in q.get("tags", ()))
                    and (q.get("synthetic") is None or r.synthetic == q["synthetic"]))
        hits = [r for r in truth.values() if keep(r)]
        res = cat.search(**q, limit=1000)
        assert res.total == len(hits), q
        assert set(ids(res)) == {r.case_id for r in hits}, q
        for s in OrganSystem:
            assert res.facets["organ_system"][s.value] == sum(r.organ_system is s for r in hits)
        for d in Difficulty:
            assert res.facets["difficulty"][d.value] == sum(r.difficulty is d for r in hits)
        for m in mods:
            assert res.facets["modality"].get(m, 0) == sum(f"S{m}" in r.series_uids for r in hits)
        if "text" not in q:
            assert ids(res) == sorted(r.case_id for r in hits)
            paged = sum((ids(cat.search(**q, limit=17, offset=o)) for o in range(0, len(hits) + 17, 17)), [])
            assert paged == ids(res)
    cat.close()


def test_search_series(cat):
    res = cat.search_series("window")
    assert {r.series_uid for r in res.rows} == {"S1", "S2", "S8"}
    assert res.facets["modality"] == {"CT": 3} and res.facets["body_part"] == {"CHEST": 3}
    assert cat.search_series(modality="ct", body_part="abdomen").rows[0].series_uid == "S7"
    assert cat.search_series("彩色").rows[0].modality == "US"
    assert cat.search_series().total == 8
    assert cat.search_series("头颅").rows[0].patient_pseudonym == "P2"


# --------------------------------------------------------------------------- indexes


def test_every_search_statement_is_served_by_an_index(cat):
    cat.optimize()
    plans = cat.explain_search()
    assert set(plans) == {"index_cases", "index_modalities", "index_order", "tag", "text", "rank", "rows",
                          "row_tags"}
    assert any("COVERING INDEX ix_cases_facets" in step for step in plans["index_cases"])
    assert any("COVERING INDEX sqlite_autoindex_cases_1" in step for step in plans["index_order"])
    assert any("USING PRIMARY KEY (tag=?)" in step for step in plans["tag"])
    assert any("INTEGER PRIMARY KEY (rowid=?)" in step for step in plans["rows"])
    assert any("USING COVERING INDEX ix_case_tags_case (case_pk=?)" in step for step in plans["row_tags"])
    assert any("case_fts VIRTUAL TABLE INDEX 0:M" in step for step in plans["text"])
    # no statement reads a rowid table without an index (case_modalities is WITHOUT ROWID:
    # scanning it is scanning its primary-key index)
    for name, steps in plans.items():
        for step in steps:
            for table in ("cases", "case_tags", "series", "instances", "case_series"):
                if step.startswith(f"SCAN {table}") or step.startswith(f"SCAN c ") or step == "SCAN c":
                    assert "INDEX" in step, (name, step)


# --------------------------------------------------------------------------- case tree


def test_case_tree_groups_by_system_then_diagnosis(cat):
    tree = cat.case_tree()
    assert [s.system.value for s in tree.systems] == ["cns", "respiratory", "breast", "digestive",
                                                      "musculoskeletal"]
    resp = tree.systems[1]
    assert [(t.label_en, t.label_zh, [c.case_id for c in t.cases]) for t in resp.topics] == [
        ("Lung cancer", "肺癌", ["lung1", "lung2"]), ("Pneumothorax", "气胸", ["ptx"])]
    assert resp.topics[0].cases[0].title_zh == "周围型肺癌"
    assert tree.n_cases == 7
    assert [c.number for s in tree.systems for t in s.topics for c in t.cases] == list(range(1, 8))
    full = cat.case_tree(include_empty=True)
    assert len(full.systems) == 9 and full.systems[1].system is OrganSystem.HEAD_NECK
    sub = cat.case_tree(organ_system="呼吸系统")
    assert [s.system for s in sub.systems] == [OrganSystem.RESPIRATORY] and sub.n_cases == 3
    json.dumps(tree.to_dict(), ensure_ascii=False)


def test_unknown_mode_hides_titles_and_diagnoses(cat):
    tree = cat.case_tree(unknown_mode=True)
    text = json.dumps(tree.to_dict(), ensure_ascii=False)
    for rec in CASES:
        for secret in (rec.title_en, rec.title_zh, rec.diagnosis_en, rec.diagnosis_zh):
            assert secret not in text
    leaves = [c for s in tree.systems for t in s.topics for c in t.cases]
    assert all(c.title_en is None and c.title_zh is None for c in leaves)
    assert sorted(c.number for c in leaves) == list(range(1, 8))
    assert all(c.label_en == f"Case {c.number}" and c.label_zh == f"病例 {c.number}" for c in leaves)
    assert all(len(s.topics) == 1 and s.topics[0].label_en == "Unknown cases" for s in tree.systems)
    assert [s.system for s in tree.systems] == [s.system for s in cat.case_tree().systems]
    again = cat.case_tree(unknown_mode=True)
    assert again == tree                                             # deterministic
    orders = {tuple(c.case_id for c in sorted(
        (c for s in cat.case_tree(unknown_mode=True, seed=str(k)).systems for t in s.topics for c in t.cases),
        key=lambda c: c.number)) for k in range(5)}
    assert len(orders) > 1                                           # the seed reshuffles


# --------------------------------------------------------------------------- DataFrame views


def test_dataframe_views_have_snake_case_columns(cat):
    import pandas as pd

    p = cat.patients()
    assert list(p.columns) == ["pseudonym", "sex", "age", "age_years", "synthetic", "n_studies"]
    assert p.loc[p.pseudonym == "P4", "age_years"].item() == 0.5 and p["synthetic"].dtype == bool

    st = cat.studies()
    assert list(st.columns) == ["study_uid", "patient_pseudonym", "study_date", "accession", "description",
                                "n_series", "modalities"]
    assert pd.api.types.is_datetime64_any_dtype(st["study_date"])
    assert st.set_index("study_uid").loc["1.1", "modalities"] == "CR\\CT"
    assert len(cat.studies(patient="P1")) == 1

    se = cat.series()
    assert list(se.columns) == [
        "series_uid", "study_uid", "patient_pseudonym", "study_date", "modality", "body_part", "description",
        "series_number", "n_instances", "n_frames", "image_rows", "image_columns", "pixel_spacing_row_mm",
        "pixel_spacing_col_mm", "slice_thickness_mm", "geometry_warnings", "dataset", "n_cases"]
    assert len(se) == 8 and len(cat.series(modality="ct")) == 4 and len(cat.series(body_part="breast")) == 2
    assert se.set_index("series_uid").loc["S2", "geometry_warnings"] == ["uneven slice spacing"]
    assert se.set_index("series_uid").loc["S1", "n_cases"] == 2
    assert list(cat.series(case_id="lung2")["series_uid"]) == ["S1", "S4"]     # the case's order

    ins = cat.instances("S1")
    assert list(ins.columns) == ["sop_uid", "series_uid", "instance_number", "path", "sha256", "size_bytes",
                                 "transfer_syntax_uid", "sop_class_uid", "n_frames"]
    assert list(ins["instance_number"]) == [1, 2, 3] and len(cat.instances()) == 11

    cs = cat.cases()
    assert list(cs.columns) == ["case_id", "title_en", "title_zh", "organ_system", "organ_system_en",
                                "organ_system_zh", "diagnosis_en", "diagnosis_zh", "difficulty", "tags",
                                "modalities", "n_series", "n_series_missing", "synthetic"]
    hcc = cs.set_index("case_id").loc["hcc"]
    assert (hcc.n_series, hcc.n_series_missing, hcc.synthetic) == (2, 1, True)
    assert cs.set_index("case_id").loc["breast", "modalities"] == ["MG", "US"]
    assert cs.set_index("case_id").loc["fx", "organ_system_zh"] == "骨骼肌肉系统"
    assert len(cat.cases(organ_system="呼吸系统")) == 3 and len(cat.cases(difficulty="primary")) == 2


def test_empty_catalog_views_and_search():
    with Catalog.open(":memory:") as cat:
        assert cat.search("肺癌").total == 0 and cat.search().rows == []
        assert cat.case_tree().systems == ()
        assert cat.series().empty and list(cat.cases().columns)[0] == "case_id"
        assert "0 patients" in cat.format_summary()


def test_import_does_not_load_pandas_pydicom_or_widgets():
    code = ("import sys, caselib.catalog as c; cat = c.Catalog.open(':memory:'); "
            "cat.add_case(c.CaseRecord('x', 'Lung', '肺', 'respiratory')); cat.search('肺'); cat.case_tree(); "
            "cat.format_summary(); "
            "bad = [m for m in ('pandas', 'pydicom', 'numpy', 'ipywidgets', 'anywidget') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- concurrency


def test_reader_works_while_a_writer_writes(tmp_path):
    writer = Catalog.open(tmp_path)
    load(writer)
    reader = Catalog.open(tmp_path, timeout=0.5)
    assert reader.search("肺癌").total == 2                  # builds the reader's bitmap index
    with writer.transaction():
        writer.add_cases([CaseRecord("lung3", "Lung cancer, EGFR mutant", "肺腺癌", "respiratory",
                                     "Lung cancer", "肺癌")])
        # WAL: the reader neither blocks nor sees uncommitted rows
        assert reader.search("肺癌").total == 2
        assert reader.summary().n_cases == 7
        assert writer.search("肺癌").total == 3               # the writer sees its own rows
    assert reader.search("肺癌").total == 3                   # committed: the reader's index is rebuilt
    assert reader.search(organ_system="respiratory").facets["organ_system"]["respiratory"] == 4
    reader.close()
    writer.close()


# --------------------------------------------------------------------------- summary, CLI, docs


def test_summary_and_its_text(cat, tmp_path):
    s = cat.summary()
    assert (s.n_patients, s.n_studies, s.n_series, s.n_instances) == (4, 4, 8, 11)
    assert s.total_bytes == sum(i.size for i in _instances())
    assert s.series_by_modality == {"CT": 4, "CR": 1, "MG": 1, "MR": 1, "US": 1}
    assert s.instances_by_modality["CT"] == 7
    assert s.cases_by_organ_system["respiratory"] == 3 and s.cases_by_organ_system["urinary"] == 0
    assert s.cases_by_difficulty == {"primary": 2, "intermediate": 3, "advanced": 2}
    assert (s.n_cases, s.n_synthetic_cases, s.n_case_links, s.n_dangling_links) == (7, 1, 11, 1)
    assert s.study_date_range == ("2030-11-30", "2033-06-01")
    text = format_catalog_summary(cat)
    assert "4 patients, 4 studies, 8 series, 11 instances" in text
    assert "Respiratory system (呼吸系统)" in text and "1 links name series not in the archive" in text
    assert format_catalog_summary(tmp_path) == text                   # by path, read-only
    proc = subprocess.run([sys.executable, "-m", "caselib.catalog", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and "teaching cases: 7 (1 synthetic)" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "caselib.catalog", str(tmp_path / "none")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "no catalog at" in proc.stderr


@pytest.mark.parametrize("module", ["caselib.catalog", "caselib.catalog.core", "caselib.catalog.records",
                                    "caselib.catalog.text", "caselib.catalog._bitmap"])
def test_docstring_examples(module):
    import importlib

    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and (result.attempted > 0 or module == "caselib.catalog._bitmap")


def test_public_surface():
    assert set(catalog_pkg.__all__) <= set(dir(catalog_pkg))
    for name in catalog_pkg.__all__:
        obj = getattr(catalog_pkg, name)
        if callable(obj):
            assert obj.__doc__, name
