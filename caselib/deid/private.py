"""The allow-list of safe private attributes (Retain Safe Private Option, PS3.15 E.3.10).

A private element ``(gggg,xxee)`` belongs to the block ``xx`` reserved by the Private
Creator element ``(gggg,00xx)``.  It is retained only if ``(gggg, creator, ee)`` is on
the allow-list; every other private element is removed, and a Private Creator is
kept only when an element of its block is.  The shipped list
(``data/safe-private.json``) is Table E.3.10-1 of the standard minus its free-text
and opaque-byte rows; a profile can extend or replace it.

Examples
--------
>>> allow = SafePrivateList.default()
>>> allow.lookup(0x0019, "GEMS_ACQU_01", 0x23).meaning
'Table Speed [mm/rotation]'
>>> allow.lookup(0x0019, "GEMS_ACQU_01 ", 0x30) is None
True
>>> SafePrivateEntry.parse("(0029,xx10)", "ACME 1.0", "DS").element
16
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from caselib.deid.errors import ProfileTableError

__all__ = ["SafePrivateEntry", "SafePrivateList", "private_creator_of", "SAFE_PRIVATE_FILE"]

SAFE_PRIVATE_FILE = Path(__file__).resolve().parent / "data" / "safe-private.json"
_PRIVATE_TAG_RE = re.compile(r"^\(([0-9A-Fa-f]{4}),[xX]{2}([0-9A-Fa-f]{2})\)$")


@dataclass(frozen=True, slots=True)
class SafePrivateEntry:
    """One allow-listed private attribute.

    Attributes
    ----------
    group : int
        Odd group number, e.g. ``0x0019``.
    creator : str
        Private Creator value, compared after stripping trailing spaces.
    element : int
        Low byte of the element number (the ``ee`` of ``(gggg,xxee)``).
    vr : str
        Expected VR; an element read with VR ``UN`` is re-read with this VR.
    meaning : str
        What the attribute holds.
    keep_uid : bool
        For a UI attribute that names a version or class rather than an instance:
        keep the UID instead of remapping it.
    source : str
        Where the entry comes from.
    """

    group: int
    creator: str
    element: int
    vr: str
    meaning: str = ""
    keep_uid: bool = False
    source: str = ""

    @classmethod
    def parse(cls, tag: str, creator: str, vr: str, meaning: str = "", *, keep_uid: bool = False,
              source: str = "") -> SafePrivateEntry:
        """Build an entry from the tag as printed in the standard, ``(gggg,xxee)``."""
        m = _PRIVATE_TAG_RE.match(tag.strip())
        if not m:
            raise ValueError(f"private tag {tag!r} must look like '(0019,xx23)'")
        group = int(m.group(1), 16)
        if not group & 1:
            raise ValueError(f"private tag {tag!r} must have an odd group")
        if not creator.strip():
            raise ValueError(f"private tag {tag!r} needs a Private Creator")
        return cls(group, creator.rstrip(), int(m.group(2), 16), vr.upper(), meaning, keep_uid, source)

    @property
    def tag_text(self) -> str:
        """``(0019,xx23)``."""
        return f"({self.group:04X},xx{self.element:02X})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, the same shape as the data file's entries."""
        out: dict[str, Any] = {"tag": self.tag_text, "creator": self.creator, "vr": self.vr, "meaning": self.meaning}
        if self.keep_uid:
            out["keep_uid"] = True
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class SafePrivateList:
    """A set of :class:`SafePrivateEntry`, indexed by ``(group, creator, element)``."""

    entries: tuple[SafePrivateEntry, ...]

    def __post_init__(self) -> None:
        index = {(e.group, e.creator, e.element): e for e in self.entries}
        object.__setattr__(self, "_index", MappingProxyType(index))

    @classmethod
    def default(cls) -> SafePrivateList:
        """The shipped list (``data/safe-private.json``)."""
        return _default_list()

    @classmethod
    def from_path(cls, path: str | Path) -> SafePrivateList:
        """Read a list in the format of ``data/safe-private.json``."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls.from_dicts(doc["entries"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProfileTableError(f"cannot read safe private list {path}: {exc}") from exc

    @classmethod
    def from_dicts(cls, items: Iterable[Mapping[str, Any]]) -> SafePrivateList:
        """Build from mappings with ``tag``, ``creator``, ``vr`` (and ``meaning``, ``keep_uid``)."""
        return cls(tuple(
            SafePrivateEntry.parse(
                str(item["tag"]), str(item["creator"]), str(item["vr"]), str(item.get("meaning", "")),
                keep_uid=bool(item.get("keep_uid", False)), source=str(item.get("source", "")),
            )
            for item in items
        ))

    def extended(self, entries: Iterable[SafePrivateEntry]) -> SafePrivateList:
        """A new list with ``entries`` added (later entries win on the same key)."""
        return SafePrivateList(self.entries + tuple(entries))

    def lookup(self, group: int, creator: str, element: int) -> SafePrivateEntry | None:
        """The entry for ``(group, creator, element low byte)``, or ``None``."""
        return self._index.get((group, creator.rstrip(), element))  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[SafePrivateEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


@cache
def _default_list() -> SafePrivateList:
    return SafePrivateList.from_path(SAFE_PRIVATE_FILE)


def private_creator_of(creators: Mapping[int, str], tag: int) -> str | None:
    """The creator of a private element from ``{creator tag: value}``, or ``None``.

    >>> private_creator_of({0x00190010: "GEMS_ACQU_01"}, 0x00191023)
    'GEMS_ACQU_01'
    >>> private_creator_of({}, 0x00190005) is None
    True
    """
    block = (tag >> 8) & 0xFF
    if block < 0x10:
        return None
    return creators.get((tag & 0xFFFF0000) | block)
