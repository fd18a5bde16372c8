"""In-memory bitmap index of the cases, for facet counts in microseconds.

Why
---
Counting facets in SQL costs about a microsecond per matching case per facet
(row lookups and GROUP BY); a broad query over 80,000 cases then takes 60-90
ms.  Here each facet value (organ system, difficulty, modality, tag,
synthetic) and each full-text result is a set of ``case_pk`` held as one Python
``int`` used as a bitset (bit ``k`` = case_pk ``k``; 10 kB for 80,000 cases).
Filtering is ``&``/``|`` and a facet count is ``(filtered & value).bit_count()``:
a few microseconds each, whatever the number of hits.

SQLite builds the bitsets itself: ``SELECT pk / 56, sum(1 << (pk % 56)) ...
GROUP BY 1`` returns one 56-bit word per 56 cases (the bits are distinct, so
the sum is an OR and stays below 2**63), so Python touches ~1,400 words, not
80,000 rows.

The index belongs to one connection and is rebuilt when the database changed:
``PRAGMA data_version`` (commits by other connections) and
``Connection.total_changes`` (this connection's writes) form its key.
Full-text bitsets are kept in a small LRU cache under the same key.
"""
from __future__ import annotations

import re
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["BitmapIndex", "positions"]

WORD = 56          # bits per SQL word
WORD_BYTES = 7
_NONZERO = re.compile(rb"[^\x00]")
_BITS = [tuple(j for j in range(8) if b >> j & 1) for b in range(256)]
TEXT_CACHE_SIZE = 128


def words_sql(pk: str) -> tuple[str, str]:
    """SQL expressions (word index, word bits) for the integer column ``pk``."""
    return f"({pk}) / {WORD}", f"sum(1 << (({pk}) % {WORD}))"


def assemble(rows: Iterable[tuple[int, int]], n_words: int) -> int:
    """Bitset from (word index, word bits) rows."""
    buf = bytearray(WORD_BYTES * n_words)
    for w, v in rows:
        buf[WORD_BYTES * w:WORD_BYTES * w + WORD_BYTES] = v.to_bytes(WORD_BYTES, "little")
    return int.from_bytes(buf, "little")


def assemble_grouped(rows: Iterable[tuple[object, int, int]], n_words: int) -> dict[object, int]:
    """Bitsets by key from (key, word index, word bits) rows."""
    bufs: dict[object, bytearray] = {}
    for key, w, v in rows:
        buf = bufs.get(key)
        if buf is None:
            buf = bufs[key] = bytearray(WORD_BYTES * n_words)
        buf[WORD_BYTES * w:WORD_BYTES * w + WORD_BYTES] = v.to_bytes(WORD_BYTES, "little")
    return {k: int.from_bytes(b, "little") for k, b in bufs.items()}


def positions(bits: int) -> list[int]:
    """The set bit positions of ``bits``, ascending.

    >>> positions(0b101001)
    [0, 3, 5]
    """
    if not bits:
        return []
    data = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
    out: list[int] = []
    for m in _NONZERO.finditer(data):
        i = m.start()
        base = i * 8
        out.extend(base + j for j in _BITS[data[i]])
    return out


def version_key(conn: sqlite3.Connection) -> tuple[int, int]:
    """What changes whenever the database content may have changed."""
    return conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes


class BitmapIndex:
    """Facet bitsets of all cases plus the case_id order, for one database version."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.key = version_key(conn)
        max_pk = conn.execute("SELECT coalesce(MAX(case_pk), 0) FROM cases").fetchone()[0]
        self.n_words = max_pk // WORD + 1
        w, b = words_sql("case_pk")
        # one pass over the covering index (organ_system, difficulty, synthetic, case_pk)
        self.systems: dict[str, int] = {}
        self.difficulties: dict[str, int] = {}
        self.synthetic = 0
        combo = assemble_grouped(
            ((f"{s}\x1f{d}\x1f{syn}", wi, v) for s, d, syn, wi, v in conn.execute(
                f"SELECT organ_system, difficulty, synthetic, {w}, {b} FROM cases GROUP BY 1, 2, 3, 4")),
            self.n_words)
        for key, bits in combo.items():
            s, d, syn = str(key).split("\x1f")
            self.systems[s] = self.systems.get(s, 0) | bits
            self.difficulties[d] = self.difficulties.get(d, 0) | bits
            if syn == "1":
                self.synthetic |= bits
        self.all = 0
        for bits in self.systems.values():
            self.all |= bits
        self.modalities: dict[str, int] = {str(k): v for k, v in assemble_grouped(
            conn.execute(f"SELECT modality, {w}, {b} FROM case_modalities GROUP BY 1, 2"),
            self.n_words).items()}
        # every tag's case set, for the tag facet counts (tags compare case-insensitively)
        self.tag_sets: dict[str, int] = {str(k): v for k, v in assemble_grouped(
            conn.execute(f"SELECT tag, {w}, {b} FROM case_tags GROUP BY 1, 2"),
            self.n_words).items()}
        self.order: list[int] = [r[0] for r in conn.execute("SELECT case_pk FROM cases ORDER BY case_id")]
        self.rank: list[int] = [0] * (max_pk + 1)
        for i, pk in enumerate(self.order):
            self.rank[pk] = i
        self._tags: dict[str, int] = {}
        self._text: OrderedDict[str, int] = OrderedDict()

    # ------------------------------------------------------------------ lazily cached sets

    def tag(self, conn: sqlite3.Connection, tag: str) -> int:
        """Cases carrying ``tag`` (case-insensitive)."""
        key = tag.casefold()
        bits = self._tags.get(key)
        if bits is None:
            w, b = words_sql("case_pk")
            bits = assemble(conn.execute(
                f"SELECT {w}, {b} FROM case_tags WHERE tag = ? GROUP BY 1", (tag,)), self.n_words)
            self._tags[key] = bits
        return bits

    def text(self, conn: sqlite3.Connection, match: str) -> int:
        """Cases whose FTS row matches the FTS5 expression ``match`` (LRU cached)."""
        bits = self._text.get(match)
        if bits is not None:
            self._text.move_to_end(match)
            return bits
        w, b = words_sql("rowid")
        bits = assemble(conn.execute(
            f"SELECT {w}, {b} FROM case_fts WHERE case_fts MATCH ? GROUP BY 1", (match,)),
            self.n_words) & self.all
        self._text[match] = bits
        if len(self._text) > TEXT_CACHE_SIZE:
            self._text.popitem(last=False)
        return bits

    def clear_text_cache(self) -> None:
        """Forget cached full-text and tag bitsets."""
        self._text.clear()
        self._tags.clear()

    # ------------------------------------------------------------------ ordering

    def first_in_order(self, bits: int, n: int) -> list[int]:
        """The first ``n`` case_pks of ``bits`` in case_id order."""
        k = bits.bit_count()
        if k == 0 or n <= 0:
            return []
        n = min(n, k)
        # scanning the case_id order visits about n * N / k cases; sorting costs about k
        if n * len(self.order) < 3 * k * k:
            data = bits.to_bytes(WORD_BYTES * self.n_words, "little")
            out: list[int] = []
            for pk in self.order:
                if data[pk >> 3] >> (pk & 7) & 1:
                    out.append(pk)
                    if len(out) == n:
                        break
            return out
        pks = positions(bits)
        pks.sort(key=self.rank.__getitem__)
        return pks[:n]

    def contains(self, bits: int) -> bytes:
        """``bits`` as bytes for fast membership tests ``data[pk >> 3] >> (pk & 7) & 1``."""
        return bits.to_bytes(WORD_BYTES * self.n_words, "little")
