"""Reviewing objects quarantined for pixel PHI: list, preview, release; reviewed decisions.

Objects whose pixels may carry burned-in identifiers (:func:`caselib.deid.pixel_phi_risk`:
Burned In Annotation YES, ultrasound, secondary and screen captures, ...) are
never published silently.  The pipeline publishes one only with a *decision*
(:class:`PixelDecision`): black out a :class:`~caselib.ingest.masks.RegionMask`,
or "reviewed-clean" (a person looked and found no identifying text).  Decisions
come from, in this order (:meth:`PixelPolicy.decide`):

1. a reviewer's release in this archive (:func:`release`), by the sha256 of the
   quarantined original bytes;
2. the repository's reviewed decisions, ``caselib/ingest/data/reviewed_decisions.yaml``
   (:func:`load_reviewed_decisions`), by the sha256 of the original file bytes:
   this is how the demo data (deid-data ultrasounds, NEMA US1) get their masks;
3. a configured mask with ``auto: true`` that matches the image's manufacturer,
   model and size (:meth:`caselib.ingest.masks.MaskSet.match`).

Without a decision the object stays in quarantine.  There is no switch that turns
the check off.

Where things live (all in the archive's private area)::

    ARCHIVE/private/review-log.jsonl                 every release: who, when, why, what (append-only)
    ARCHIVE/private/pixel_masks.yaml                 the archive's own masks (optional)
    ARCHIVE/private/quarantine/<id>/released.json    the release of that object (the original is kept)
    ARCHIVE/private/previews/<id>.png                previews (they SHOW the burned-in PHI)

Examples
--------
The review session the ``caselib quarantine`` command runs::

    for record in list_quarantined(archive, stage="pixel-phi", pending=True):
        preview = render_preview(archive, record.id, default_preview_path(archive, record.id))
        # ... a person looks at preview.path ...
    rec = release(archive, record.id, reviewer="Dr A. Reviewer", reason="header bar only", mask="auto")
    publish_released(archive, record.id)
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import textwrap
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from caselib.archive import ArchiveLayout
from caselib.ingest.masks import (
    MaskFileError,
    MaskSet,
    Rectangle,
    RegionMask,
    apply_mask,
    display_frame,
    find_text_regions,
    load_yaml,
    overlap_fraction,
)
from caselib.ingest.quarantine import Quarantine, QuarantineRecord, _atomic_write

__all__ = [
    "PixelDecision",
    "ReviewedDecision",
    "ReleaseRecord",
    "Preview",
    "PixelPolicy",
    "REVIEWED_DECISIONS",
    "REVIEWED_CLEAN",
    "MASK",
    "list_quarantined",
    "released",
    "render_preview",
    "default_preview_path",
    "release",
    "read_review_log",
    "review_log_path",
    "load_reviewed_decisions",
    "suspected_text_regions",
    "publish_released",
]

#: the reviewed decisions kept in the repository
REVIEWED_DECISIONS = Path(__file__).with_name("data") / "reviewed_decisions.yaml"

MASK = "mask"
REVIEWED_CLEAN = "reviewed-clean"
_KINDS = (MASK, REVIEWED_CLEAN)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RELEASED = "released.json"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def review_log_path(archive: str | os.PathLike[str]) -> Path:
    """``ARCHIVE/private/review-log.jsonl``."""
    return ArchiveLayout.at(archive).private / "review-log.jsonl"


def default_preview_path(archive: str | os.PathLike[str], ident: str) -> Path:
    """``ARCHIVE/private/previews/<id>.png``: previews show PHI, so they stay private."""
    return ArchiveLayout.at(archive).private / "previews" / f"{ident}.png"


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class PixelDecision:
    """How an object with pixel-PHI risk may be published.

    Parameters
    ----------
    kind : {"mask", "reviewed-clean"}
        Black out ``mask`` first, or publish the pixels as they are.
    reviewer, reason : str
        Who decided and why (never empty).
    date : str
        When: an ISO date or UTC time.
    mask : RegionMask, optional
        Required for ``"mask"``, absent for ``"reviewed-clean"``.
    source : str
        Where the decision comes from (``"repository"``, ``"release <id>"``,
        ``"configured mask"``).
    forced : bool
        A reviewed-clean release made although suspected text was found.
    """

    kind: str
    reviewer: str
    reason: str
    date: str
    mask: RegionMask | None = None
    source: str = ""
    forced: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"decision must be one of {', '.join(_KINDS)}; found {self.kind!r}")
        if (self.kind == MASK) != (self.mask is not None):
            raise ValueError("a 'mask' decision needs a mask and a 'reviewed-clean' decision has none")
        for attr in ("reviewer", "reason"):
            if not str(getattr(self, attr) or "").strip():
                raise ValueError(f"a decision needs a non-empty {attr}")

    def apply(self, ds: Dataset) -> Dataset:
        """The dataset to de-identify and publish: masked (a new dataset), or ``ds`` itself."""
        if self.mask is not None:
            return apply_mask(ds, self.mask)
        return ds

    def describe(self) -> str:
        """One line for reports and logs (no patient data)."""
        what = f"mask {self.mask.name}" if self.mask is not None else "reviewed clean"
        forced = ", forced" if self.forced else ""
        return f"{what} ({self.source or 'decision'}: {self.reviewer}, {self.date}{forced})"

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.kind, "mask": self.mask.to_dict() if self.mask is not None else None,
                "reviewer": self.reviewer, "reason": self.reason, "date": self.date,
                "source": self.source, "forced": self.forced}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PixelDecision:
        mask = data.get("mask")
        return cls(kind=data["decision"], reviewer=data["reviewer"], reason=data["reason"], date=data["date"],
                   mask=RegionMask.from_dict(mask) if mask else None, source=data.get("source", ""),
                   forced=bool(data.get("forced", False)))


@dataclass(frozen=True)
class ReviewedDecision:
    """One entry of ``reviewed_decisions.yaml``: a decision for the file whose bytes hash to ``sha256``."""

    sha256: str
    decision: PixelDecision
    key: str | None = None
    """Data-manifest key of the file (documentation, and what the tests check)."""
    member: str | None = None
    """Member of the zip named by ``key`` whose bytes these are."""


def load_reviewed_decisions(path: str | os.PathLike[str] | None = None, *,
                            masks: MaskSet | None = None) -> dict[str, ReviewedDecision]:
    """The repository's reviewed decisions, keyed by the sha256 of the original file bytes.

    Keys are content hashes, never patient data, so a decision applies to one
    exact file wherever it comes from (a zip member counts as its own bytes).

    File format (YAML)::

        version: 1
        decisions:
          - sha256: <64 hex digits of the original bytes>
            key: deid-data/ultrasounds/RGB_IMAGE.dcm    # manifest key (documentation)
            member: RGB_CINE.dcm                        # optional: member of that zip
            decision: mask                              # or reviewed-clean
            mask: siemens-s2000-768x1024-header         # a mask of ``masks`` (mask only)
            reviewer: ...
            date: 2026-12-04
            reason: ...

    Parameters
    ----------
    path : path-like, optional
        Default :data:`REVIEWED_DECISIONS`.
    masks : MaskSet, optional
        Where mask names are looked up; default the repository's masks.

    Raises
    ------
    MaskFileError
        Unreadable file, invalid entry, unknown mask or repeated sha256 (the message names the entry).
    """
    import yaml

    path = Path(path) if path is not None else REVIEWED_DECISIONS
    masks = masks if masks is not None else MaskSet.default()
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MaskFileError(f"cannot read reviewed decisions {path}: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not isinstance(raw.get("decisions", []), list):
        raise MaskFileError(f"{path}: expected a mapping with a 'decisions' list")
    if raw.get("version", 1) != 1:
        raise MaskFileError(f"{path}: unsupported version {raw.get('version')!r}; expected 1")
    known = {"sha256", "key", "member", "decision", "mask", "reviewer", "date", "reason"}
    result: dict[str, ReviewedDecision] = {}
    for i, entry in enumerate(raw.get("decisions") or []):
        where = f"{path}: decisions[{i}]"
        if not isinstance(entry, dict):
            raise MaskFileError(f"{where}: expected a mapping")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise MaskFileError(f"{where}: unknown field(s) {', '.join(unknown)}")
        sha = str(entry.get("sha256", "")).lower()
        if not _SHA256.match(sha):
            raise MaskFileError(f"{where}: sha256 must be 64 hex digits; found {entry.get('sha256')!r}")
        if sha in result:
            raise MaskFileError(f"{where}: sha256 {sha} already has a decision")
        date = entry.get("date")
        if isinstance(date, (_dt.date, _dt.datetime)):
            date = date.isoformat()
        try:
            _dt.date.fromisoformat(str(date)[:10])
        except ValueError:
            raise MaskFileError(f"{where}: date must be an ISO date (YYYY-MM-DD); found {date!r}") from None
        kind = entry.get("decision")
        if kind not in _KINDS:
            raise MaskFileError(f"{where}: decision must be one of {', '.join(_KINDS)}; found {kind!r}")
        mask = None
        if kind == MASK:
            try:
                mask = masks.get(str(entry.get("mask")))
            except KeyError as exc:
                raise MaskFileError(f"{where}: {exc.args[0]}") from None
        elif entry.get("mask") is not None:
            raise MaskFileError(f"{where}: a {kind!r} decision takes no mask")
        try:
            decision = PixelDecision(kind=str(kind), reviewer=str(entry.get("reviewer") or ""),
                                     reason=str(entry.get("reason") or ""), date=str(date), mask=mask,
                                     source="repository")
        except ValueError as exc:
            raise MaskFileError(f"{where}: {exc}") from None
        result[sha] = ReviewedDecision(sha, decision, entry.get("key"), entry.get("member"))
    return result


@dataclass(frozen=True)
class PixelPolicy:
    """What the ingest pipeline consults before quarantining an object for pixel PHI.

    Plain data (picklable), so it can be handed to worker processes.

    Parameters
    ----------
    decisions : dict
        sha256 of original bytes -> :class:`PixelDecision` (releases and repository decisions).
    masks : MaskSet
        Masks whose ``auto: true`` ones are applied to matching images unreviewed.
    """

    decisions: dict[str, PixelDecision] = field(default_factory=dict)
    masks: MaskSet = field(default_factory=MaskSet)

    @classmethod
    def for_archive(cls, archive: str | os.PathLike[str] | None = None) -> PixelPolicy:
        """Repository decisions and masks, then (winning) the archive's releases and masks."""
        decisions = {sha: d.decision for sha, d in load_reviewed_decisions().items()}
        masks = MaskSet.default(archive)
        if archive is not None:
            for rec in _iter_released(archive):
                decisions[rec.sha256] = rec.decision
        return cls(decisions, masks)

    def has_decision(self, sha256: str) -> bool:
        """Whether the bytes with this hash have a reviewed decision (a released or repository one)."""
        return sha256 in self.decisions

    def decide(self, ds: Dataset, sha256: str) -> PixelDecision | None:
        """The decision for an object with pixel-PHI risk, or ``None`` (quarantine it).

        Parameters
        ----------
        ds : pydicom.dataset.Dataset
            The original dataset (its header picks an ``auto`` mask).
        sha256 : str
            Hex sha256 of the original bytes.
        """
        found = self.decisions.get(sha256)
        if found is not None:
            return found
        mask = self.masks.match(ds, auto_only=True)
        if mask is not None:
            return PixelDecision(MASK, reviewer="configured mask (auto: true)",
                                 reason=mask.why or f"configured mask {mask.name}", date=_now(),
                                 mask=mask, source="configured mask")
        return None


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class ReleaseRecord:
    """A release of one quarantined object: the decision and who/when/why.

    ``original`` (the quarantined bytes, for the pipeline to publish) is only
    filled by :func:`release`; it is never written to the log.
    """

    id: str
    sha256: str
    stage: str
    time: str
    decision: PixelDecision
    text_regions: tuple[Rectangle, ...] = ()
    """Suspected text regions found on the checked frames when released."""
    uncovered_text_regions: tuple[Rectangle, ...] = ()
    """Those not covered (at least half) by the mask: text that will be published."""
    original: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def reviewer(self) -> str:
        return self.decision.reviewer

    @property
    def reason(self) -> str:
        return self.decision.reason

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``released.json`` and the review log hold); no bytes, no labels."""
        return {"event": "release", "id": self.id, "sha256": self.sha256, "stage": self.stage, "time": self.time,
                **self.decision.to_dict(),
                "text_regions": [list(r) for r in self.text_regions],
                "uncovered_text_regions": [list(r) for r in self.uncovered_text_regions]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReleaseRecord:
        return cls(id=data["id"], sha256=data["sha256"], stage=data.get("stage", ""), time=data["time"],
                   decision=PixelDecision.from_dict(data),
                   text_regions=_rects(data.get("text_regions", ())),
                   uncovered_text_regions=_rects(data.get("uncovered_text_regions", ())))


def _rects(values: Iterable[Iterable[int]]) -> tuple[Rectangle, ...]:
    result: list[Rectangle] = []
    for v in values:
        r0, c0, r1, c1 = (int(x) for x in v)
        result.append((r0, c0, r1, c1))
    return tuple(result)


def _quarantine(archive: str | os.PathLike[str]) -> Quarantine:
    return Quarantine(ArchiveLayout.at(archive).quarantine)


def released(archive: str | os.PathLike[str], ident: str) -> ReleaseRecord | None:
    """The release of quarantined object ``ident``, or ``None`` while it is pending."""
    path = ArchiveLayout.at(archive).quarantine / ident / _RELEASED
    if not path.is_file():
        return None
    return ReleaseRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _iter_released(archive: str | os.PathLike[str]) -> Iterable[ReleaseRecord]:
    root = ArchiveLayout.at(archive).quarantine
    if not root.is_dir():
        return
    for path in sorted(root.glob(f"*/{_RELEASED}")):
        yield ReleaseRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))


def list_quarantined(archive: str | os.PathLike[str], stage: str | None = None, *,
                     pending: bool = False) -> list[QuarantineRecord]:
    """Quarantined objects of an archive, sorted by id.

    Parameters
    ----------
    archive : path-like
    stage : str, optional
        Only this stage (``"pixel-phi"``, ``"verify"``, ``"read"``, ...).
    pending : bool
        Leave out released objects (:func:`released`).
    """
    records = [r for r in _quarantine(archive) if stage is None or r.stage == stage]
    if pending:
        records = [r for r in records if released(archive, r.id) is None]
    return records


# --------------------------------------------------------------------------- looking


def _load(archive: str | os.PathLike[str], ident: str) -> tuple[QuarantineRecord, bytes, Dataset]:
    from caselib.ingest.validate import parse_object

    quarantine = _quarantine(archive)
    record = quarantine.get(ident)
    if not record.has_original:
        raise ValueError(f"quarantined object {ident} has no original bytes (stage {record.stage}: "
                         f"{record.reason}); there is nothing to review or release")
    data = quarantine.original(ident)
    found = hashlib.sha256(data).hexdigest()
    if found != record.sha256:
        raise ValueError(f"quarantined original {ident} changed since it was recorded: sha256 {found}, "
                         f"expected {record.sha256}")
    return record, data, parse_object(data, f"quarantine/{ident}")


def _frames_to_check(ds: Dataset) -> list[int]:
    n = int(ds.get("NumberOfFrames") or 1)
    return sorted({0, n // 2, n - 1})


def suspected_text_regions(ds: Dataset, frames: Iterable[int] | None = None) -> list[Rectangle]:
    """:func:`~caselib.ingest.masks.find_text_regions` on the first, middle and last frames, merged.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
    frames : iterable of int, optional
        Frame indices to look at instead.
    """
    regions: set[Rectangle] = set()
    for i in (frames if frames is not None else _frames_to_check(ds)):
        regions.update(find_text_regions(display_frame(ds, i)))
    return sorted(regions)


@dataclass(frozen=True)
class Preview:
    """What :func:`render_preview` drew."""

    path: Path
    text_regions: tuple[Rectangle, ...]
    mask: RegionMask | None
    reasons: tuple[str, ...]


def _resolve_mask(mask: RegionMask | str | None, ds: Dataset, masks: MaskSet) -> RegionMask | None:
    if isinstance(mask, RegionMask):
        return mask
    if mask is None or mask == "auto":
        return masks.match(ds)
    try:
        return masks.get(mask)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


def _outline(rgb: NDArray[np.uint8], rect: Rectangle, colour: tuple[int, int, int], width: int = 2) -> None:
    r0, c0, r1, c1 = rect
    h, w = rgb.shape[:2]
    r1, c1 = min(r1, h), min(c1, w)
    for k in range(width):
        if r0 + k < r1:
            rgb[r0 + k, c0:c1] = colour
            rgb[r1 - 1 - k, c0:c1] = colour
        if c0 + k < c1:
            rgb[r0:r1, c0 + k] = colour
            rgb[r0:r1, c1 - 1 - k] = colour


def _write_png(path: Path, rgb: NDArray[np.uint8], text: str) -> None:
    """A PNG (8-bit RGB, one tEXt 'Title' chunk) written with zlib alone."""
    h, w = rgb.shape[:2]

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (len(payload).to_bytes(4, "big") + kind + payload
                + zlib.crc32(kind + payload).to_bytes(4, "big"))

    raw = b"".join(b"\x00" + rgb[r].tobytes() for r in range(h))
    header = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    title = b"Title\x00" + text.encode("latin-1", "replace")
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", title)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    _atomic_write(path, data)


_TEXT_COLOUR = (255, 48, 48)
_MASK_COLOUR = (0, 200, 255)


def render_preview(
    archive: str | os.PathLike[str],
    ident: str,
    out_png: str | os.PathLike[str],
    *,
    mask: RegionMask | str | None = None,
    masks: MaskSet | None = None,
    frame: int = 0,
) -> Preview:
    """Draw a quarantined object's frame with suspected text (red) and the mask (cyan).

    The PNG shows the burned-in text, which may identify a patient: write it
    inside the archive's private area (:func:`default_preview_path`) and do
    not share it.

    Parameters
    ----------
    archive : path-like
    ident : str
        Quarantine id (:func:`list_quarantined`).
    out_png : path-like
        Where to write the PNG (parent folders are created).
    mask : RegionMask or str, optional
        The mask to show: a mask, a mask name, or ``None``/``"auto"`` for the
        configured mask matching the image (if any).
    masks : MaskSet, optional
        Default :meth:`MaskSet.default` of the archive.
    frame : int
        Frame index (default the first).

    Returns
    -------
    Preview
        The path, the suspected text rectangles, the mask drawn and the
        quarantine reasons (also the PNG's title).

    Notes
    -----
    Drawn with matplotlib (the ``ui`` extra) when it is installed; otherwise a
    plain PNG with the outlines is written with numpy and zlib, the title in
    its ``tEXt`` chunk.
    """
    from caselib.deid import pixel_phi_risk

    record, _, ds = _load(archive, ident)
    masks = masks if masks is not None else MaskSet.default(archive)
    region_mask = _resolve_mask(mask, ds, masks)
    image = display_frame(ds, frame)
    regions = tuple(find_text_regions(image))
    risks = record.details.get("risks") if isinstance(record.details, dict) else None
    reasons = tuple(risks) if risks else tuple(pixel_phi_risk(ds)) or (record.reason,)
    mask_note = f"mask {region_mask.name} (cyan)" if region_mask is not None else "no mask matches"
    title = (f"quarantine {ident} [{record.stage}]: {'; '.join(reasons)}\n"
             f"{len(regions)} suspected text region(s) (red); {mask_note}")
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image.copy()
        if region_mask is not None:
            for rect in region_mask.rectangles:
                _outline(rgb, rect, _MASK_COLOUR, 3)
        for rect in regions:
            _outline(rgb, rect, _TEXT_COLOUR, 1)
        _write_png(out, rgb, title.replace("\n", " | "))
    else:
        _render_matplotlib(out, image, regions, region_mask, title)
    return Preview(out, regions, region_mask, reasons)


def _render_matplotlib(path: Path, image: NDArray[np.uint8], regions: Iterable[Rectangle],
                       mask: RegionMask | None, title: str) -> None:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle as Patch

    h, w = image.shape[:2]
    scale = min(1.0, 1600 / max(h, w))
    dpi = 100
    lines = [wrapped for line in title.splitlines() for wrapped in textwrap.wrap(line, max(30, int(w * scale / 8)))]
    title_px = 16 * len(lines) + 10
    fig_w, fig_h = w * scale / dpi, (h * scale + title_px) / dpi
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, h * scale / (h * scale + title_px)))
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    if mask is not None:
        for r0, c0, r1, c1 in mask.rectangles:
            ax.add_patch(Patch((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, facecolor=(0, 0.78, 1, 0.25),
                               edgecolor=(0, 0.78, 1), linewidth=2))
    for r0, c0, r1, c1 in regions:
        ax.add_patch(Patch((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, edgecolor=(1, 0.19, 0.19),
                           linewidth=1))
    fig.text(0.005, 1 - 4 / (h * scale + title_px), "\n".join(lines), va="top", ha="left", fontsize=9,
             family="monospace")
    fig.savefig(path, dpi=dpi, facecolor="white")


# --------------------------------------------------------------------------- releasing


def _append_log(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_review_log(archive: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every entry of ``ARCHIVE/private/review-log.jsonl``, oldest first."""
    path = review_log_path(archive)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def release(
    archive: str | os.PathLike[str],
    ident: str,
    *,
    reviewer: str,
    reason: str,
    mask: RegionMask | str | None = None,
    reviewed_clean: bool = False,
    force: bool = False,
    masks: MaskSet | None = None,
) -> ReleaseRecord:
    """Release a quarantined object with a mask or as reviewed-clean; record who, when and why.

    The release is appended to ``ARCHIVE/private/review-log.jsonl`` (append-only,
    one JSON object per line, written before anything else) and written beside
    the object as ``quarantine/<id>/released.json``.  The original stays where
    it is.  Publishing is the pipeline's job (:func:`publish_released`); the
    returned record carries what it needs: the original bytes and the decision.

    Parameters
    ----------
    archive : path-like
    ident : str
        Quarantine id.
    reviewer : str
        Who looked at the image (a name, not an account token).  Required.
    reason : str
        Why it may be published.  Required.
    mask : RegionMask, str or "auto", optional
        Black out this mask: a :class:`RegionMask`, the name of a configured
        mask, or ``"auto"`` for the configured mask matching the image's
        manufacturer, model and size.
    reviewed_clean : bool
        Publish the pixels as they are: the reviewer found no identifying text.
    force : bool
        Needed for ``reviewed_clean`` when :func:`suspected_text_regions`
        finds text (first, middle and last frame): the reviewer confirms that
        the text is not identifying (e.g. acquisition settings only).  The
        log records ``forced: true``.
    masks : MaskSet, optional
        Where names and ``"auto"`` are looked up; default :meth:`MaskSet.default` of the archive.

    Returns
    -------
    ReleaseRecord
        With ``original`` (the quarantined bytes) and ``decision``.

    Raises
    ------
    ValueError
        Empty reviewer or reason; neither or both of ``mask`` and
        ``reviewed_clean``; unknown or unfitting mask; suspected text with
        ``reviewed_clean`` and no ``force``; already released; no original bytes;
        quarantined at another stage than ``pixel-phi`` (a release does not fix those).
    KeyError
        No quarantined object ``ident``.
    """
    reviewer = (reviewer or "").strip() if isinstance(reviewer, str) else ""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reviewer:
        raise ValueError("a release needs reviewer= (who looked at the image); found an empty value")
    if not reason:
        raise ValueError("a release needs reason= (why the object may be published); found an empty value")
    if mask is not None and reviewed_clean:
        raise ValueError("give either mask= or reviewed_clean=True, not both")
    if mask is None and not reviewed_clean:
        raise ValueError("give mask= (a RegionMask, a mask name or 'auto') or reviewed_clean=True")
    earlier = released(archive, ident)
    if earlier is not None:
        raise ValueError(f"quarantined object {ident} was already released at {earlier.time} by "
                         f"{earlier.reviewer} ({earlier.decision.describe()}); the log keeps that decision")
    record, data, ds = _load(archive, ident)
    if record.stage != "pixel-phi":
        raise ValueError(f"only objects quarantined for pixel PHI can be released; {ident} was refused at "
                         f"stage {record.stage!r}: {record.reason}")
    regions = tuple(suspected_text_regions(ds))
    now = _now()
    if reviewed_clean:
        if regions and not force:
            where = ", ".join(str(r) for r in regions[:5]) + (" ..." if len(regions) > 5 else "")
            raise ValueError(
                f"{len(regions)} suspected text region(s) found in {ident} (row0, col0, row1, col1: {where}); "
                f"look at the preview (caselib quarantine show {ident}) and release it with a mask, or pass "
                "force=True (--force) if the text does not identify anyone")
        decision = PixelDecision(REVIEWED_CLEAN, reviewer, reason, now, None, f"release {ident}",
                                 forced=bool(regions))
        uncovered = regions
    else:
        masks = masks if masks is not None else MaskSet.default(archive)
        region_mask = _resolve_mask(mask, ds, masks)
        if region_mask is None:
            raise ValueError(
                f"no configured mask matches {ident}: (0008,0070) Manufacturer {str(ds.get('Manufacturer', ''))!r}, "
                f"(0008,1090) Manufacturer's Model Name {str(ds.get('ManufacturerModelName', ''))!r}, "
                f"{ds.get('Rows')} x {ds.get('Columns')}; add one to "
                f"{ArchiveLayout.at(archive).private / 'pixel_masks.yaml'} or give a RegionMask")
        if (region_mask.rows, region_mask.columns) != (int(ds.Rows), int(ds.Columns)):
            raise ValueError(f"mask {region_mask.name!r} is for {region_mask.rows} x {region_mask.columns} images; "
                             f"{ident} is {ds.Rows} x {ds.Columns}")
        decision = PixelDecision(MASK, reviewer, reason, now, region_mask, f"release {ident}")
        uncovered = tuple(r for r in regions if overlap_fraction(r, region_mask.rectangles) < 0.5)
    assert record.sha256 is not None
    rec = ReleaseRecord(ident, record.sha256, record.stage, now, decision, regions, uncovered, data)
    entry = rec.to_dict()
    _append_log(review_log_path(archive), entry)
    _atomic_write(ArchiveLayout.at(archive).quarantine / ident / _RELEASED,
                  json.dumps(entry, ensure_ascii=False, indent=1).encode("utf-8"))
    return rec


def publish_released(archive: str | os.PathLike[str], ident: str, **ingest_options: Any) -> Any:
    """Run the ingest pipeline on a released object's original; returns its ``IngestReport``.

    The pipeline finds the release through :meth:`PixelPolicy.for_archive` (by
    the sha256 of the bytes) and applies its decision.  ``ingest_options`` go
    to :func:`caselib.ingest.ingest` (default one worker, no progress bar).
    """
    from caselib.ingest.pipeline import ingest

    if released(archive, ident) is None:
        raise ValueError(f"quarantined object {ident} is not released; release it first")
    original = ArchiveLayout.at(archive).quarantine / ident / "original"
    ingest_options.setdefault("workers", 1)
    ingest_options.setdefault("progress", False)
    return ingest(original, archive, **ingest_options)

