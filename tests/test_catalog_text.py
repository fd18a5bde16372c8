"""caselib.catalog.text: CJK bigram indexing and safe FTS5 query building."""
from __future__ import annotations

import random
import sqlite3

import pytest

from caselib.catalog.schema import FTS_TOKENIZER
from caselib.catalog.text import build_fts_query, index_text, is_cjk


@pytest.fixture
def fts():
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(body, tokenize = '{FTS_TOKENIZER}')")
    yield conn
    conn.close()


def _match(conn: sqlite3.Connection, text: str) -> set[int]:
    q = build_fts_query(text)
    assert q is not None
    return {r[0] for r in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (q,))}


def test_index_text_rewrites_only_cjk_runs():
    assert index_text("CT 胸部平扫 lung") == "CT  胸部 部平 平扫 扫  lung"
    assert index_text("气胸") == " 气胸 胸 "
    assert index_text("肺", None, "") == " 肺 "
    assert index_text("no chinese here") == "no chinese here"
    assert is_cjk("ｶﾞ") is False and is_cjk("がん") is True


def test_query_building():
    assert build_fts_query(None) is None
    assert build_fts_query("   ") is None
    assert build_fts_query("lung lung") == '"lung"*'
    assert build_fts_query('say "hi"') == '"say"* AND """hi"""*'
    assert build_fts_query("T2高信号") == '"T2"* AND "高信 信号"'
    with pytest.raises(TypeError, match="search text must be a str"):
        build_fts_query(3)  # type: ignore[arg-type]


def test_every_substring_of_an_indexed_chinese_run_is_found_and_nothing_else(fts):
    rng = random.Random(3)
    alphabet = "肺癌结节气胸骨折脑梗死肝囊肿"
    docs = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(60)]
    for i, d in enumerate(docs):
        fts.execute("INSERT INTO t(rowid, body) VALUES (?, ?)", (i, index_text(d, "and some English")))
    for d in docs[:25]:
        for a in range(len(d)):
            for b in range(a + 1, len(d) + 1):
                sub = d[a:b]
                assert _match(fts, sub) == {i for i, doc in enumerate(docs) if sub in doc}, sub


def test_runs_separated_by_other_text_do_not_join(fts):
    fts.execute("INSERT INTO t(rowid, body) VALUES (1, ?)", (index_text("肺 癌"),))
    fts.execute("INSERT INTO t(rowid, body) VALUES (2, ?)", (index_text("肺CT癌"),))
    fts.execute("INSERT INTO t(rowid, body) VALUES (3, ?)", (index_text("肺癌"),))
    assert _match(fts, "肺癌") == {3}
    assert _match(fts, "肺 癌") == {1, 2, 3}


def test_english_stemming_prefix_and_diacritics(fts):
    fts.execute("INSERT INTO t(rowid, body) VALUES (1, ?)", (index_text("Multiple pulmonary nodules"),))
    fts.execute("INSERT INTO t(rowid, body) VALUES (2, ?)", (index_text("Café-au-lait spots, neurofibromatosis"),))
    assert _match(fts, "nodule") == {1}
    assert _match(fts, "NODULES pulmonary") == {1}
    assert _match(fts, "neurofib") == {2}
    assert _match(fts, "cafe") == {2}
    assert _match(fts, "café au lait") == {2}
    assert _match(fts, "nodule café") == set()


@pytest.mark.parametrize("text", ['"', "*", "NEAR(", "a OR b", "NOT x", "x:y", "{body}: x", "^x", "(", ")",
                                  "'", "--", "\x00x", "AND", "x AND", "\"\"\"", "肺\"*癌", "\\"])
def test_no_user_text_is_a_syntax_error(fts, text):
    fts.execute("INSERT INTO t(rowid, body) VALUES (1, 'x near and or not body y')")
    q = build_fts_query(text)
    if q is not None:
        fts.execute("SELECT rowid FROM t WHERE t MATCH ?", (q,)).fetchall()
