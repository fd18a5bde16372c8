"""Text preparation for the FTS5 index: CJK bigrams and safe query building.

Why bigrams and not the ``trigram`` tokenizer
---------------------------------------------
SQLite's ``unicode61`` tokenizer treats a run of Chinese characters as one
token, so "肺癌" would only match a document whose whole run is "肺癌".  The
``trigram`` tokenizer (SQLite >= 3.34) splits everything into 3-character
pieces, which cannot match the many two-character medical words (肺癌, 骨折,
肝癌, 气胸) and gives up English stemming.  So the catalog keeps
``porter unicode61`` (English stems: "nodules" finds "nodule") and rewrites
every CJK run *before* it reaches SQLite:

* indexed text: each run becomes its overlapping bigrams plus its last
  character alone: "小细胞肺癌" -> "小细 细胞 胞肺 肺癌 癌";
* query text: a run of two or more characters becomes the phrase of its
  bigrams ("细胞肺癌" -> phrase "细胞 胞肺 肺癌", which must appear in that
  order); a single character becomes a prefix query ("癌"*), which matches a
  bigram starting with it or the trailing single character, so every
  character of an indexed run is findable.

User text never reaches FTS5 syntax: it is cut at white space into chunks,
each chunk becomes one double-quoted phrase (inner ``"`` doubled) with a
prefix ``*`` so that "pneumo" finds "pneumothorax", and chunks are joined by
``AND``.  Operators (``OR``, ``NEAR(``, ``*``, ``:``, ``^``) typed by a user
are therefore searched as words, never interpreted.
"""
from __future__ import annotations

import re

__all__ = ["index_text", "build_fts_query", "is_cjk"]

# Han (basic, extension A, compatibility, extensions B-F) plus Japanese kana.
_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")
_SPLIT = re.compile(f"([{_CJK_CLASS}]+)")
_TOKEN_CHAR = re.compile(r"[^\W_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_cjk(text: str) -> bool:
    """True if ``text`` contains a CJK ideograph or kana.

    >>> is_cjk("肺癌"), is_cjk("lung")
    (True, False)
    """
    return _CJK_RUN.search(text) is not None


def _bigrams(run: str) -> list[str]:
    return [run[i:i + 2] for i in range(len(run) - 1)]


def _index_run(m: re.Match[str]) -> str:
    run = m.group(0)
    if len(run) == 1:
        return f" {run} "
    return " " + " ".join(_bigrams(run)) + f" {run[-1]} "


def index_text(*parts: str | None) -> str:
    """Join ``parts`` and rewrite CJK runs as bigrams for the FTS5 index.

    >>> index_text("肺癌 lung cancer")
    ' 肺癌 癌  lung cancer'
    >>> index_text("T2WI高信号", None)
    'T2WI 高信 信号 号 '
    """
    text = " ".join(p for p in parts if p)
    return _CJK_RUN.sub(_index_run, text)


def _phrase(text: str, prefix: bool) -> str:
    return '"' + text.replace('"', '""') + '"' + ("*" if prefix else "")


def build_fts_query(text: str | None) -> str | None:
    """Turn free user text into a safe FTS5 MATCH expression, or None if it has no words.

    Every white-space separated chunk must match (AND); Latin words match as
    prefixes; CJK runs match as bigram phrases.

    Examples
    --------
    >>> build_fts_query("lung cancer")
    '"lung"* AND "cancer"*'
    >>> build_fts_query("小细胞肺癌")
    '"小细 细胞 胞肺 肺癌"'
    >>> build_fts_query("癌")
    '"癌"*'
    >>> build_fts_query('\\'); DROP TABLE cases;--')
    '"DROP"* AND "TABLE"* AND "cases;--"*'
    >>> build_fts_query('NEAR( " * ') is None
    False
    >>> build_fts_query(' " * ^ ') is None
    True
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"search text must be a str, got {type(text).__name__}")
    # control characters (NUL ends an FTS5 expression) and lone surrogates are dropped
    text = _CONTROL.sub(" ", text.encode("utf-8", "ignore").decode("utf-8"))
    terms: list[str] = []
    for chunk in text.split():
        for piece in _SPLIT.split(chunk):
            if not piece:
                continue
            if _CJK_RUN.fullmatch(piece):
                if len(piece) == 1:
                    terms.append(_phrase(piece, prefix=True))
                else:
                    terms.append(_phrase(" ".join(_bigrams(piece)), prefix=False))
            elif _TOKEN_CHAR.search(piece):
                terms.append(_phrase(piece, prefix=True))
    if not terms:
        return None
    return " AND ".join(dict.fromkeys(terms))
