"""Quarantine: inputs that were not published, kept with the reason, for review.

Layout (inside the archive's private area, never published or bundled)::

    ARCHIVE/private/quarantine/<id>/record.json   label, reason, stage, sha256, size, time
    ARCHIVE/private/quarantine/<id>/original       the bytes as received (may hold PHI)

``<id>`` is the first 16 hex digits of the sha256 of the bytes (or of the
label when the bytes were never read), so quarantining the same input twice
is idempotent.  Writes are atomic (temporary file + rename).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["QuarantineRecord", "Quarantine"]


@dataclass(frozen=True)
class QuarantineRecord:
    id: str
    label: str
    reason: str
    stage: str
    sha256: str | None
    size: int | None
    time: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def has_original(self) -> bool:
        return self.sha256 is not None


def _atomic_write(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename (fsync'd unless told not to)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Quarantine:
    """The quarantine folder of one archive."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def add(self, label: str, reason: str, stage: str, data: bytes | None = None,
            details: dict[str, Any] | None = None) -> QuarantineRecord:
        """Record an input that was not published; keeps its bytes when given."""
        sha = hashlib.sha256(data).hexdigest() if data is not None else None
        ident = (sha or hashlib.sha256(label.encode("utf-8", "surrogateescape")).hexdigest())[:16]
        record = QuarantineRecord(
            id=ident, label=label, reason=reason, stage=stage, sha256=sha,
            size=len(data) if data is not None else None,
            time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), details=details or {})
        folder = self.root / ident
        if data is not None and not (folder / "original").is_file():
            _atomic_write(folder / "original", data)
        _atomic_write(folder / "record.json",
                      json.dumps(asdict(record), ensure_ascii=False, indent=1).encode("utf-8"))
        return record

    def __iter__(self) -> Iterator[QuarantineRecord]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            rec = folder / "record.json"
            if rec.is_file():
                yield QuarantineRecord(**json.loads(rec.read_text(encoding="utf-8")))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def get(self, ident: str) -> QuarantineRecord:
        rec = self.root / ident / "record.json"
        if not rec.is_file():
            known = ", ".join(r.id for r in self) or "none"
            raise KeyError(f"no quarantined object {ident!r} in {self.root} (known: {known})")
        return QuarantineRecord(**json.loads(rec.read_text(encoding="utf-8")))

    def original(self, ident: str) -> bytes:
        return (self.root / ident / "original").read_bytes()
