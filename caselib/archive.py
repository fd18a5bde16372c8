"""Where everything of one archive lives: the only place that builds archive paths.

::

    ARCHIVE/
      objects/<Study>/<Series>/<SOP>.dcm    de-identified, losslessly compressed (caselib.store)
      catalog.sqlite                         the catalog (caselib.catalog)
      private/                               never published, bundled or shown to students
        secret.key                           HMAC secret of the UID remap and pseudonyms (0600)
        pseudonyms.sqlite                    patient pseudonym registry
        journal.sqlite                       which source objects were already handled
        quarantine/<id>/                     refused inputs with their reasons
        reports/ingest-<time>.json           ingest reports (source labels may name patients)

Keep ``private/`` out of anything you share: ``caselib`` never copies it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ArchiveLayout"]


@dataclass(frozen=True)
class ArchiveLayout:
    """Paths of an archive rooted at ``root``."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> ArchiveLayout:
        return cls(Path(root))

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.sqlite"

    @property
    def private(self) -> Path:
        return self.root / "private"

    @property
    def secret(self) -> Path:
        return self.private / "secret.key"

    @property
    def pseudonyms(self) -> Path:
        return self.private / "pseudonyms.sqlite"

    @property
    def journal(self) -> Path:
        return self.private / "journal.sqlite"

    @property
    def quarantine(self) -> Path:
        return self.private / "quarantine"

    @property
    def reports(self) -> Path:
        return self.private / "reports"

    def create(self) -> ArchiveLayout:
        """Make the folders; ``private/`` is readable by the owner only."""
        self.objects.mkdir(parents=True, exist_ok=True)
        self.private.mkdir(parents=True, exist_ok=True)
        os.chmod(self.private, 0o700)
        self.quarantine.mkdir(exist_ok=True)
        self.reports.mkdir(exist_ok=True)
        return self
