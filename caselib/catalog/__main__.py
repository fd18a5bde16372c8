"""``python -m caselib.catalog ARCHIVE``: print the catalog summary (read-only)."""
from __future__ import annotations

import sys

from caselib.catalog import CatalogError, format_catalog_summary


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m caselib.catalog ARCHIVE_OR_CATALOG_FILE", file=sys.stderr)
        return 2
    try:
        print(format_catalog_summary(args[0]))
    except CatalogError as exc:
        print(f"caselib catalog: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
