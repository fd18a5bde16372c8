"""DICOM PS3.15 Table E.1-1 as data: action codes, options, rows indexed by tag.

The table lives in ``caselib/deid/data/ps3.15-table-E.1-1.json`` with the revision of
the standard and the provenance of every row (revision 2024b in full, plus the rows
that revision 2026c adds); ``caselib-rows.json`` holds the few rows caselib adds
itself (File Meta AE titles, SR Text Value), each with its reason; ``iod-types.json``
holds the attribute types used to resolve the compound action codes.  Everything is
parsed once, on first use, into :class:`Action` / :class:`Option` enums and a
:class:`ConfidentialityTable` indexed by tag.

Action codes (PS3.15 E.1.1)
---------------------------
``D`` replace with a non-zero length dummy value consistent with the VR; ``Z``
replace with a zero length value (or a dummy); ``X`` remove; ``K`` keep (sequences
are cleaned: the table is applied to their items); ``C`` clean (replace with values
of similar meaning known not to identify); ``U`` replace with a non-zero length UID
that is consistent within a set of instances.

Compound codes are resolved by :func:`resolve_action` from the attribute's type in
the IODs caselib archives (``iod-types.json``; an unlisted attribute counts as
Type 3, so the strictest code applies):

======== ===========================================================
``Z/D``  ``D`` for a Type 1 attribute, else ``Z``
``X/Z``  ``Z`` for a Type 1 or 2 attribute, else ``X``
``X/D``  ``D`` for a Type 1 attribute, else ``X``
``X/Z/D`` ``D`` for Type 1, ``Z`` for Type 2, else ``X``
``X/Z/U*`` ``U`` (keep_references=True, the default): Referenced Image Sequence and
         Source Image Sequence carry the links between the objects of a case
         (Type 1C in presentation states, SR, segmentations and enhanced images);
         the sequence is kept, every instance UID in it replaced and every other
         attribute of its items put through the table again.  With
         ``keep_references=False`` they are removed (``X``).
======== ===========================================================

Examples
--------
>>> from caselib.deid.table import Action, Option, load_table
>>> Action.from_code("X/Z/U*")
<Action.X_Z_U: 'X/Z/U*'>
>>> table = load_table()
>>> table.revision
'2026c'
>>> row = table.row_for(0x00100010)
>>> row.name, row.basic
("Patient's Name", <Action.Z: 'Z'>)
>>> table.row_for(0x60023000).name          # (60xx,3000) repeating group
'Overlay Data'
>>> table.row_for(0x00291010).name          # any odd group
'Private Attributes'
>>> resolve_action(Action.X_Z, None)
<Action.X: 'X'>
"""
from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from caselib.deid.errors import ProfileTableError

__all__ = [
    "Action",
    "Option",
    "BASIC_PROFILE_CODE",
    "TableRow",
    "ConfidentialityTable",
    "load_table",
    "resolve_action",
    "parse_tag_pattern",
    "DATA_DIR",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
TABLE_FILE = "ps3.15-table-E.1-1.json"
LOCAL_FILE = "caselib-rows.json"
TYPES_FILE = "iod-types.json"


class Action(enum.Enum):
    """An action code of PS3.15 Table E.1-1 (E.1.1).

    Simple codes are ``D``, ``Z``, ``X``, ``K``, ``C`` and ``U``; the compound codes
    name the choices allowed by the attribute's type in the IOD and are turned into
    a simple code by :func:`resolve_action`.
    """

    D = "D"
    Z = "Z"
    X = "X"
    K = "K"
    C = "C"
    U = "U"
    Z_D = "Z/D"
    X_Z = "X/Z"
    X_D = "X/D"
    X_Z_D = "X/Z/D"
    X_Z_U = "X/Z/U*"

    @classmethod
    def from_code(cls, code: str) -> Action:
        """Parse a code as printed in the table (``"X/Z/U*"``, ``"x/z/u"``, ``" D "``).

        >>> Action.from_code("z/d")
        <Action.Z_D: 'Z/D'>
        """
        if not isinstance(code, str):
            raise TypeError(f"action code must be a str, got {type(code).__name__}")
        text = code.strip().upper().replace(" ", "")
        if text == "X/Z/U":
            text = "X/Z/U*"
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(a.value for a in cls)
            raise ValueError(f"unknown action code {code!r}; expected one of {allowed}") from None

    @property
    def is_compound(self) -> bool:
        """True for the codes that depend on the attribute type (``Z/D``, ``X/Z``...)."""
        return "/" in self.value

    @property
    def strictness(self) -> int:
        """Order used to combine options: X > Z > D > C > U > K (compound: its strictest)."""
        return _STRICTNESS[self]


_STRICTNESS = {
    Action.K: 0, Action.U: 1, Action.C: 2, Action.D: 3, Action.Z: 4, Action.X: 5,
    Action.Z_D: 4, Action.X_Z: 5, Action.X_D: 5, Action.X_Z_D: 5, Action.X_Z_U: 5,
}


class Option(enum.Enum):
    """An option of the Basic Application Level Confidentiality Profile (PS3.15 E.3).

    The value is the code of CID 7050 (scheme ``DCM``) that marks the option in
    De-identification Method Code Sequence (0012,0064); :attr:`column` is the column
    of Table E.1-1 that holds its actions (``None`` for the pixel options, which have
    no column).
    """

    CLEAN_PIXEL_DATA = "113101"
    CLEAN_RECOGNIZABLE_VISUAL_FEATURES = "113102"
    CLEAN_GRAPHICS = "113103"
    CLEAN_STRUCTURED_CONTENT = "113104"
    CLEAN_DESCRIPTORS = "113105"
    RETAIN_LONGITUDINAL_FULL_DATES = "113106"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "113107"
    RETAIN_PATIENT_CHARACTERISTICS = "113108"
    RETAIN_DEVICE_IDENTITY = "113109"
    RETAIN_UIDS = "113110"
    RETAIN_SAFE_PRIVATE = "113111"
    RETAIN_INSTITUTION_IDENTITY = "113112"

    @property
    def code(self) -> str:
        """CID 7050 code value, e.g. ``"113107"``."""
        return self.value

    @property
    def meaning(self) -> str:
        """CID 7050 code meaning, e.g. ``"Clean Descriptors Option"``."""
        return _MEANINGS[self]

    @property
    def column(self) -> str | None:
        """Key of the option's column in the table file, e.g. ``"cleanDescOpt"``."""
        return _COLUMNS.get(self)


#: CID 7050 code of the Basic Application Confidentiality Profile itself
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")

# CID 7050 meanings; checked against pydicom.sr.codedict in tests/test_deid_table.py
_MEANINGS = {
    Option.CLEAN_PIXEL_DATA: "Clean Pixel Data Option",
    Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES: "Clean Recognizable Visual Features Option",
    Option.CLEAN_GRAPHICS: "Clean Graphics Option",
    Option.CLEAN_STRUCTURED_CONTENT: "Clean Structured Content Option",
    Option.CLEAN_DESCRIPTORS: "Clean Descriptors Option",
    Option.RETAIN_LONGITUDINAL_FULL_DATES: "Retain Longitudinal Temporal Information Full Dates Option",
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: "Retain Longitudinal Temporal Information Modified Dates Option",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "Retain Patient Characteristics Option",
    Option.RETAIN_DEVICE_IDENTITY: "Retain Device Identity Option",
    Option.RETAIN_UIDS: "Retain UIDs Option",
    Option.RETAIN_SAFE_PRIVATE: "Retain Safe Private Option",
    Option.RETAIN_INSTITUTION_IDENTITY: "Retain Institution Identity Option",
}

_COLUMNS = {
    Option.RETAIN_SAFE_PRIVATE: "rtnSafePrivOpt",
    Option.RETAIN_UIDS: "rtnUIDsOpt",
    Option.RETAIN_DEVICE_IDENTITY: "rtnDevIdOpt",
    Option.RETAIN_INSTITUTION_IDENTITY: "rtnInstIdOpt",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "rtnPatCharsOpt",
    Option.RETAIN_LONGITUDINAL_FULL_DATES: "rtnLongFullDatesOpt",
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: "rtnLongModifDatesOpt",
    Option.CLEAN_DESCRIPTORS: "cleanDescOpt",
    Option.CLEAN_STRUCTURED_CONTENT: "cleanStructContOpt",
    Option.CLEAN_GRAPHICS: "cleanGraphOpt",
}
_OPTION_BY_COLUMN = {column: option for option, column in _COLUMNS.items()}

_TAG_RE = re.compile(r"^\(([0-9A-FX]{4}),([0-9A-FX]{4})\)$")
PRIVATE_PATTERN = "(GGGG,EEEE) WHERE GGGG IS ODD"


def parse_tag_pattern(text: str) -> tuple[int, int]:
    """``(mask, value)`` of a tag as printed in the table; ``x`` digits match anything.

    A repeating group such as ``(60XX,3000)`` matches the even groups 6000-60FE only
    (the odd ones are private), so the group's low bit is part of the mask.

    >>> [hex(v) for v in parse_tag_pattern("(0010,0010)")]
    ['0xffffffff', '0x100010']
    >>> [hex(v) for v in parse_tag_pattern("(60XX,3000)")]
    ['0xff01ffff', '0x60003000']
    """
    m = _TAG_RE.match(text.strip().upper())
    if not m:
        raise ValueError(f"cannot parse tag {text!r}; expected '(gggg,eeee)' with hex digits or x")
    digits = m.group(1) + m.group(2)
    mask = value = 0
    for ch in digits:
        mask <<= 4
        value <<= 4
        if ch != "X":
            mask |= 0xF
            value |= int(ch, 16)
    if "X" in m.group(1):
        mask |= 0x00010000  # repeating groups are even groups
    return mask, value


@dataclass(frozen=True, slots=True)
class TableRow:
    """One row of Table E.1-1 (or of caselib's additions).

    Attributes
    ----------
    tag_text : str
        The tag as printed, e.g. ``"(0010,0010)"`` or ``"(50XX,XXXX)"``.
    name : str or None
        Attribute name as printed (``None`` for 2026c rows pydicom does not know).
    basic : Action
        Action of the Basic Profile.
    options : Mapping[Option, Action]
        Actions of the option columns that have an entry for this row.
    revision : str
        ``"2024b"``, ``"2026c"`` or ``"caselib"`` (a project addition).
    mask, value : int
        ``tag & mask == value`` for the tags the row covers; ``mask`` is
        ``0xFFFFFFFF`` for a single tag.  Both are 0 for the private row.
    std_comp_iod : bool or None
        Whether the attribute is used in a standard composite IOD.
    why : str
        For caselib rows, the reason the row exists.
    """

    tag_text: str
    name: str | None
    basic: Action
    options: Mapping[Option, Action] = field(default_factory=lambda: MappingProxyType({}))
    revision: str = "2024b"
    mask: int = 0xFFFFFFFF
    value: int = 0
    std_comp_iod: bool | None = None
    why: str = ""

    @property
    def is_private(self) -> bool:
        """True for the ``(GGGG,EEEE) WHERE GGGG IS ODD`` row."""
        return self.tag_text == PRIVATE_PATTERN

    @property
    def is_pattern(self) -> bool:
        """True for rows that cover a repeating group (``50xx``, ``60xx``)."""
        return self.mask != 0xFFFFFFFF

    @property
    def display_name(self) -> str:
        """Name with whitespace collapsed and notes removed (``"Icon Image Sequence"``)."""
        if not self.name:
            return self.tag_text
        text = re.sub(r"\(see Note \d+\)", "", self.name)
        return " ".join(text.split())

    def action(self, options: Iterable[Option] = ()) -> Action:
        """Action of the row for a set of options (not yet resolved if compound).

        The strictest action among the enabled options that have an entry wins
        (PS3.15 E.1.1: an option overrides the profile); without one, the Basic
        Profile's.
        """
        best: Action | None = None
        for option in options:
            act = self.options.get(option)
            if act is not None and (best is None or act.strictness > best.strictness):
                best = act
        return self.basic if best is None else best


def resolve_action(action: Action, attribute_type: str | None, *, keep_references: bool = True) -> Action:
    """Turn a compound action code into a simple one (see the module docstring).

    Parameters
    ----------
    action : Action
        Any action; simple ones are returned unchanged.
    attribute_type : str or None
        The attribute's type (``"1"``, ``"1C"``, ``"2"``, ``"2C"``, ``"3"``) in the IODs
        considered, or ``None`` when unknown (treated as Type 3).
    keep_references : bool
        Resolution of ``X/Z/U*``: ``U`` when true, ``X`` otherwise.

    >>> resolve_action(Action.Z_D, "1"), resolve_action(Action.Z_D, None)
    (<Action.D: 'D'>, <Action.Z: 'Z'>)
    >>> resolve_action(Action.X_Z_D, "2C")
    <Action.Z: 'Z'>
    """
    if not action.is_compound:
        return action
    base = (attribute_type or "3")[0]
    if action is Action.Z_D:
        return Action.D if base == "1" else Action.Z
    if action is Action.X_Z:
        return Action.Z if base in "12" else Action.X
    if action is Action.X_D:
        return Action.D if base == "1" else Action.X
    if action is Action.X_Z_D:
        return Action.D if base == "1" else Action.Z if base == "2" else Action.X
    return Action.U if keep_references else Action.X  # X/Z/U*


@dataclass(frozen=True)
class ConfidentialityTable:
    """Table E.1-1 with caselib's additions, indexed by tag.

    Use :func:`load_table` rather than the constructor.

    Attributes
    ----------
    rows : tuple of TableRow
        Every row: the standard's, then caselib's.
    revision : str
        Revision of the standard the table corresponds to (``"2026c"``).
    revisions : Mapping
        Provenance of each source file (file name, sha256, size, row count).
    attribute_types : Mapping[int, str]
        Types used by :func:`resolve_action`, by tag.
    """

    rows: tuple[TableRow, ...]
    revision: str
    revisions: Mapping[str, Any]
    attribute_types: Mapping[int, str]
    _exact: Mapping[int, TableRow] = field(repr=False)
    _patterns: tuple[TableRow, ...] = field(repr=False)
    _private: TableRow | None = field(repr=False)

    def row_for(self, tag: int) -> TableRow | None:
        """The row that covers ``tag``: exact tag, then repeating group, then private."""
        row = self._exact.get(tag)
        if row is not None:
            return row
        for pattern in self._patterns:
            if tag & pattern.mask == pattern.value:
                return pattern
        if (tag >> 16) & 1:
            return self._private
        return None

    @property
    def exact_rows(self) -> Mapping[int, TableRow]:
        """Rows for single tags, by tag."""
        return self._exact

    @property
    def pattern_rows(self) -> tuple[TableRow, ...]:
        """Rows for repeating groups (``(50XX,XXXX)``, ``(60XX,3000)``, ``(60XX,4000)``)."""
        return self._patterns

    def rows_from(self, revision: str) -> tuple[TableRow, ...]:
        """Rows that came from one revision (``"2024b"``, ``"2026c"``) or ``"caselib"``."""
        return tuple(r for r in self.rows if r.revision == revision)


def _parse_row(raw: Mapping[str, Any], source: str, default_revision: str) -> TableRow:
    tag_text = str(raw.get("tag", "")).strip()
    where = f"{source}: row {tag_text}" if tag_text else f"{source}: row {dict(raw)!r}"
    try:
        basic = Action.from_code(raw["basicProfile"])
        options: dict[Option, Action] = {}
        for key, code in raw.items():
            option = _OPTION_BY_COLUMN.get(key)
            if option is not None:
                options[option] = Action.from_code(code)
        if tag_text.upper() == PRIVATE_PATTERN:
            mask = value = 0
        else:
            mask, value = parse_tag_pattern(tag_text)
    except (KeyError, ValueError, TypeError) as exc:
        raise ProfileTableError(f"{where}: {exc}") from None
    comp = raw.get("stdCompIOD")
    return TableRow(
        tag_text=tag_text.upper() if tag_text.upper() == PRIVATE_PATTERN else tag_text,
        name=raw.get("name"),
        basic=basic,
        options=MappingProxyType(options),
        revision=str(raw.get("revision", default_revision)),
        mask=mask,
        value=value,
        std_comp_iod=None if comp is None else comp == "Y",
        why=str(raw.get("why", "")),
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProfileTableError(f"cannot read {path}: {exc}") from exc


@cache
def load_table(data_dir: str | None = None) -> ConfidentialityTable:
    """Load and index the table (cached; the files are read once per process).

    Parameters
    ----------
    data_dir : str, optional
        Folder with the three data files; defaults to ``caselib/deid/data``.

    Raises
    ------
    ProfileTableError
        If a file is unreadable, a row has an unknown action code or tag, a tag
        appears twice, or a caselib row repeats a tag of the standard.
    """
    folder = Path(data_dir) if data_dir else DATA_DIR
    doc = _read_json(folder / TABLE_FILE)
    local = _read_json(folder / LOCAL_FILE)
    types_doc = _read_json(folder / TYPES_FILE)
    if not isinstance(doc, dict) or "rows" not in doc or "revision" not in doc:
        raise ProfileTableError(f"{folder / TABLE_FILE}: expected a mapping with 'revision' and 'rows'")

    rows = [_parse_row(r, TABLE_FILE, "2024b") for r in doc["rows"]]
    rows += [_parse_row(r, LOCAL_FILE, "caselib") for r in local.get("rows", [])]

    exact: dict[int, TableRow] = {}
    patterns: list[TableRow] = []
    private: TableRow | None = None
    for row in rows:
        if row.is_private:
            private = row
        elif row.is_pattern:
            patterns.append(row)
        else:
            if row.value in exact:
                first = exact[row.value]
                raise ProfileTableError(
                    f"tag {row.tag_text} appears twice: revision {first.revision} and {row.revision}"
                )
            exact[row.value] = row

    types: dict[int, str] = {}
    for entry in types_doc.get("attributes", []):
        try:
            _, tag = parse_tag_pattern(entry["tag"])
            types[tag] = str(entry["type"])
        except (KeyError, ValueError) as exc:
            raise ProfileTableError(f"{folder / TYPES_FILE}: {entry!r}: {exc}") from None

    return ConfidentialityTable(
        rows=tuple(rows),
        revision=str(doc["revision"]),
        revisions=MappingProxyType(dict(doc.get("revisions", {}))),
        attribute_types=MappingProxyType(types),
        _exact=MappingProxyType(exact),
        _patterns=tuple(patterns),
        _private=private,
    )
