"""caselib.catalog: the SQLite index of an archive, its teaching-case tree and search.

One file, ``ARCHIVE/catalog.sqlite``, holds the de-identified archive
(patients -> studies -> series -> instances, with modality, body part, shifted
dates and descriptions) and the teaching layer (cases by organ system and
diagnosis, tags, difficulty, links to series), with FTS5 full-text search in
English and Chinese and facet counts.  pandas DataFrame views are there for
notebooks; pandas is imported only when one is asked for.

Writers (the ingest pipeline, the teaching-content loader) hand in frozen
records; every ``add_*`` is an idempotent upsert, so re-ingesting converges.

Ingest replaces every UID, so the catalog also remembers where each series came
from: :attr:`SeriesRecord.source_refs` (data-manifest keys) and ``dataset``
are looked up by :meth:`Catalog.series_for_source`; that is how a teaching case
written against the data manifest finds its de-identified series
(:func:`caselib.cases.resolve_series`, which maps original Series UIDs of
synthetic cases with the archive's keyring).

Examples
--------
>>> from caselib.catalog import Catalog, CaseRecord
>>> cat = Catalog.open(":memory:")
>>> cat.add_case(CaseRecord("msk-1", "Scaphoid fracture", "舟骨骨折", "骨骼肌肉系统",
...                         diagnosis_en="Fracture", diagnosis_zh="骨折", tags=["trauma"]))
>>> res = cat.search("骨折")
>>> res.total, res.rows[0].title_en, res.facets["organ_system"]["musculoskeletal"]
(1, 'Scaphoid fracture', 1)
"""
from __future__ import annotations

from caselib.catalog.core import (
    CATALOG_FILENAME,
    CaseLeaf,
    CaseRow,
    CaseTree,
    Catalog,
    CatalogSummary,
    SearchResult,
    SeriesRow,
    SystemNode,
    TopicNode,
    format_catalog_summary,
    resolve_catalog_path,
)
from caselib.catalog.records import (
    CaseNotFoundError,
    CaseRecord,
    CatalogError,
    CatalogSchemaError,
    Difficulty,
    FullTextUnavailableError,
    InstanceRecord,
    OrganSystem,
    PatientRecord,
    SeriesRecord,
    StudyRecord,
)
from caselib.catalog.schema import SCHEMA_VERSION
from caselib.catalog.text import build_fts_query

__all__ = [
    "CATALOG_FILENAME",
    "SCHEMA_VERSION",
    "Catalog",
    "CatalogSummary",
    "SearchResult",
    "CaseRow",
    "SeriesRow",
    "CaseTree",
    "SystemNode",
    "TopicNode",
    "CaseLeaf",
    "PatientRecord",
    "StudyRecord",
    "SeriesRecord",
    "InstanceRecord",
    "CaseRecord",
    "OrganSystem",
    "Difficulty",
    "CatalogError",
    "CatalogSchemaError",
    "FullTextUnavailableError",
    "CaseNotFoundError",
    "build_fts_query",
    "format_catalog_summary",
    "resolve_catalog_path",
]
