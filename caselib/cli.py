"""The ``caselib`` command.

Subcommands
-----------
``caselib info PATH``        patients, studies and series in a folder, zip, DICOMDIR or file
``caselib fetch [KEY...]``   materialise manifest files (keys or data-set names) into the cache
``caselib datasets``         the data sets of the manifest with licences and citations
``caselib ingest SRC --archive DIR [--store NODE]``  de-identify, verify, store and catalog
                                     (``--store``: the objects live on a DICOMweb node, not in DIR)
``caselib deidentify SRC DEST``       plain folder-to-folder de-identification
``caselib verify ARCHIVE``            re-run the residual-PHI scan over an archive
``caselib cases validate|list [DIR]`` teaching cases
``caselib cases export CASE... OUT.zip --archive DIR``  a self-contained case bundle to share
``caselib cases import BUNDLE --archive DIR``           verify a bundle and add its cases
``caselib pacs echo|query|pull|push NODE ...``          a PACS over DICOMweb or DIMSE (``--config``)
``caselib receive --archive DIR --port N``              C-STORE receiver that ingests what a PACS sends
``caselib bank template|import|export FILE`` the question bank (CSV, Moodle XML, QTI 2.1)
``caselib catalog ARCHIVE`` summary of an archive's SQLite catalog
``caselib quarantine list|show|release``  review objects held back (pixel PHI ...)
``caselib doctor``          check packages, decoders, data and the demo archive
``caselib demo build|serve`` build the demo case library and open it in JupyterLab

This module never imports widget libraries.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from caselib.errors import CaselibError

__all__ = ["main", "build_parser"]


def _cmd_info(args: argparse.Namespace) -> int:
    from caselib.dicom import format_summary, read

    status = 0
    for path in args.paths:
        collection = read(path)
        print(format_summary(collection))
        if not collection.series:
            status = 1
    return status


def _cmd_fetch(args: argparse.Namespace) -> int:
    from caselib.data import cache_dir, fetch_many, load_manifest

    manifest = load_manifest(args.manifest)
    entries = manifest.select(args.keys, demo=args.demo)
    if args.list:
        for e in entries:
            print(f"{e.key}\t{e.size}\t{e.modality or '-'}\t{e.body_part or '-'}\t{e.licence}")
        return 0
    progress = None if not args.no_progress else False
    paths = fetch_many(args.keys, demo=args.demo, manifest=manifest, progress=progress)
    total = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} files ({total / 1e6:.1f} MB) verified in {cache_dir()}")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from caselib.data import load_manifest

    manifest = load_manifest(args.manifest)
    for ds in manifest.datasets.values():
        print(f"{ds.name}  ({len(ds.files)} files, {ds.size / 1e6:.1f} MB)")
        print(f"    {ds.title}")
        print(f"    licence:  {ds.licence}")
        print(f"    citation: {ds.citation}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from caselib.demo import build_demo_archive, serve_command

    if args.action in ("build", "run"):
        report = build_demo_archive(Path(args.archive), progress=not args.no_progress, workers=args.workers)
        print(report.summary())
    if args.action in ("serve", "run"):
        cmd = serve_command(Path(args.archive), port=args.port, notebooks=Path(args.notebooks))
        print("Starting the case library; open the URL printed below "
              f"(http://127.0.0.1:{args.port}/...?token=...): it shows the case browser; the lessons are "
              f"in JupyterLab at http://127.0.0.1:{args.port}/lab. Stop with Ctrl+C.", flush=True)
        os.execvp(cmd[0], cmd)
    return 0


def _record_archive_store(args: argparse.Namespace) -> None:
    """``--store NODE``: the archive keeps its objects on that DICOMweb node of the PACS configuration."""
    if not getattr(args, "store", None):
        return
    from caselib.archive import record_store
    from caselib.pacs import load_config

    settings = record_store(args.archive, load_config(args.config).node(args.store))
    print(f"{args.archive}: objects live on {settings.describe()} (recorded in {settings.origin})",
          file=sys.stderr)


def _cmd_ingest(args: argparse.Namespace) -> int:
    from caselib.ingest import ingest

    try:
        _record_archive_store(args)
    except FileNotFoundError as exc:
        print(f"caselib ingest: error: {exc}", file=sys.stderr)
        return 2
    report = ingest(args.source, args.archive, profile=args.profile, compression=args.compression,
                    workers=args.workers, progress=False if args.no_progress else None)
    print(report.summary())
    return 0


def _cmd_deidentify(args: argparse.Namespace) -> int:
    from caselib.ingest import deidentify_folder

    report = deidentify_folder(args.source, args.dest, profile=args.profile, secret_file=args.secret_file,
                               quarantine_dir=args.quarantine, workers=args.workers,
                               progress=False if args.no_progress else None)
    print(report.summary().replace("ingested", "de-identified", 1))
    print(f"report: {Path(args.dest) / 'deid-report.json'}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from caselib.ingest import verify_archive

    result = verify_archive(args.archive, progress=False if args.no_progress else None)
    print(result.summary())
    return 0 if result.ok else 1


def _cmd_cases(args: argparse.Namespace) -> int:
    from caselib.cases import CaseSchemaError, load_case

    if args.action in ("export", "import"):
        return _cases_bundle(args)
    if args.action == "link":
        return _cases_link(args)
    if len(args.paths) > 1:
        print(f"caselib cases {args.action}: error: expected at most one folder, found {len(args.paths)}",
              file=sys.stderr)
        return 2
    root = Path(args.paths[0] if args.paths else "cases")
    folders = sorted(p.parent for p in root.rglob("case.yaml"))
    if not folders:
        print(f"no case.yaml under {root}")
        return 1
    if args.action == "validate":
        from caselib.cases.library import validate_library

        found = validate_library(root, check_images=args.images)
        bad_files = {Path(p.file).resolve() for p in found}
        for folder in folders:
            if (folder / "case.yaml").resolve() not in bad_files:
                print(f"ok      {folder}")
        for problem in found:
            print(f"INVALID {problem}")
        n_bad = len({f.parent for f in bad_files})
        print(f"{len(folders) - n_bad} of {len(folders)} cases valid"
              + (" (images checked)" if args.images else ""))
        return 1 if found else 0
    problems = 0
    for folder in folders:
        try:
            case = load_case(folder)
        except CaseSchemaError as exc:
            problems += 1
            print(f"INVALID {exc}")
            continue
        modality = case.modality if isinstance(case.modality, str) else "/".join(case.modality)
        print(f"{case.id}\t{case.organ_system.value}\t{modality}\t{case.difficulty.value}\t"
              f"{case.title.en} / {case.title.zh}")
    print(f"{len(folders) - problems} of {len(folders)} cases valid")
    return 1 if problems else 0


def _cases_link(args: argparse.Namespace) -> int:
    """``caselib cases link [DIR...] --archive A``: link teaching cases to an archive's series."""
    from caselib.demo import link_cases

    if not args.archive:
        print("caselib cases link: error: --archive DIR is required", file=sys.stderr)
        return 2
    if not (Path(args.archive) / "catalog.sqlite").is_file():
        print(f"caselib cases link: error: expected an archive with a catalog ({args.archive}/catalog.sqlite), "
              "found none", file=sys.stderr)
        return 2
    roots = args.paths or ["cases"]
    resolutions = link_cases(args.archive, roots)
    for r in resolutions:
        state = "linked " if r.complete else "MISSING"
        detail = "" if r.complete else "  (not in the archive: " + ", ".join(r.missing) + ")"
        print(f"{state} {r.case_id}: {len(r.series_uids)} series{detail}")
    linked = sum(r.complete for r in resolutions)
    print(f"{linked} of {len(resolutions)} cases have every series in {args.archive}")
    return 0


def _cases_bundle(args: argparse.Namespace) -> int:
    from caselib.cases.bundle import BundleError, export_bundle, import_bundle

    prog = f"caselib cases {args.action}"
    if not args.archive:
        print(f"{prog}: error: --archive DIR is required", file=sys.stderr)
        return 2
    try:
        if args.action == "export":
            if len(args.paths) < 2:
                print(f"{prog}: error: expected CASE... OUT.zip (at least one case and the output file)",
                      file=sys.stderr)
                return 2
            *cases, out = args.paths
            result = export_bundle(cases, out, args.archive, cases_root=args.cases_dir or "cases")
            print(result.summary())
            return 0
        if len(args.paths) != 1:
            print(f"{prog}: error: expected one BUNDLE.zip, found {len(args.paths)} arguments", file=sys.stderr)
            return 2
        imported = import_bundle(args.paths[0], args.archive, cases_dir=args.cases_dir, workers=args.workers)
        print(imported.summary())
        return 0 if imported.ok else 1
    except (BundleError, FileNotFoundError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def _pacs_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from caselib.pacs import load_config

    return load_config(args.config)


def _pacs_query(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from caselib.pacs import StudyQuery

    return StudyQuery(patient_id=args.patient_id, accession=args.accession, date_from=args.date_from,
                      date_to=args.date_to, modality=args.modality, description=args.description)


def _cmd_pacs(args: argparse.Namespace) -> int:
    import logging

    from caselib.pacs import PacsError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("dicomweb_client").setLevel(logging.WARNING)
    prog = f"caselib pacs {args.action}"
    if args.action in ("pull", "push") and not args.archive:
        print(f"{prog}: error: --archive DIR is required", file=sys.stderr)
        return 2
    try:
        config = _pacs_config(args)
        node = config.node(args.node)
        if args.action == "echo":
            if args.via == "dicomweb":
                from caselib.pacs.dicomweb import DicomwebConnection

                with DicomwebConnection(node) as conn:
                    conn.ping()
                print(f"{node.name}: DICOMweb answers at {node.dicomweb_url} (QIDO-RS, authenticated)")
            else:
                from caselib.pacs.dimse import echo

                echo(node, config.local)
                print(f"{node.name}: C-ECHO ok ({node.ae_title}@{node.host}:{node.port}, calling AE "
                      f"{config.local.ae_title})")
            return 0
        if args.action == "query":
            query = _pacs_query(args)
            if args.via == "dicomweb":
                from caselib.pacs.dicomweb import DicomwebConnection

                with DicomwebConnection(node) as conn:
                    matches = conn.search_studies(query)
            else:
                from caselib.pacs.dimse import find_studies

                matches = find_studies(node, query, config.local)
            print("study_uid\tpatient_id\taccession\tdate\tmodalities\tinstances\tdescription")
            for m in matches:
                print(m.row())
            print(f"{len(matches)} studies on {node.name}", file=sys.stderr)
            return 0
        if args.action == "pull":
            from caselib.pacs import pull

            _record_archive_store(args)
            via = {"dimse": "move"}.get(args.via, args.via)
            kwargs = {"study_uids": args.study} if args.study else {"query": _pacs_query(args)}
            report = pull(node, args.archive, via=via, config=config, compression=args.compression,
                          workers=args.workers, force=args.force,
                          progress=False if args.no_progress else None, **kwargs)
            print(report.summary())
            return 0 if report.ok else 1
        # push
        from caselib.pacs import push

        series = None
        if args.case:
            from caselib.cases import load_case
            from caselib.cases.bundle import _case_folder, resolve_case_series

            series = []
            for cid in args.case:
                case = load_case(_case_folder(cid, Path(args.cases_dir)))
                series += [u for group in resolve_case_series(case, args.archive) for u in group]
        pushed = push(args.archive, node, studies=args.study or None, series=series,
                      via="dimse" if args.via in ("dimse", "move", "get") else "dicomweb", local=config.local,
                      verify=not args.no_verify, progress=False if args.no_progress else None)
        print(pushed.summary())
        return 0 if pushed.ok else 1
    except (PacsError, FileNotFoundError, ValueError, CaselibError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def _cmd_receive(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from caselib.pacs import LocalNode, PacsConfigError, Receiver, load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # it logs every PDU at INFO
    try:
        config = load_config(args.config) if args.config else None
    except (PacsConfigError, FileNotFoundError) as exc:
        print(f"caselib receive: error: {exc}", file=sys.stderr)
        return 2
    local = config.local if config is not None else LocalNode()
    allowed = tuple(args.allow or ()) or (config.allowed_ae() if config is not None else ())
    if not allowed:
        print("caselib receive: error: no AE title may send: give --allow AE (repeatable) or local.allowed_ae "
              "in the --config file", file=sys.stderr)
        return 2
    receiver = Receiver(args.archive, ae_title=args.ae or local.ae_title, allowed_ae=allowed, host=args.host,
                        port=args.port, compression=args.compression, workers=args.workers)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    receiver.start()
    print(f"receiving as {receiver.scp.ae_title} on {args.host}:{receiver.port} into {args.archive}; "
          f"allowed calling AE titles: {', '.join(allowed)} (stop with Ctrl+C)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    n = sum(r.published for r in receiver.reports)
    print(f"stopped: {receiver.scp.received} objects received, {n} new in the archive, "
          f"{sum(r.quarantined for r in receiver.reports)} quarantined, "
          f"{receiver.scp.refused_associations} associations refused", flush=True)
    return 1 if receiver.errors else 0


def _cmd_bank(args: argparse.Namespace) -> int:
    from caselib.cases import export_bank_csv, import_bank_csv, write_template

    if args.action == "template":
        write_template(args.file)
        print(f"wrote the question-bank template {args.file}"
              + (" (UTF-8 with BOM: opens in Excel/WPS)" if not str(args.file).lower().endswith(".xlsx") else ""))
        return 0
    if args.action == "export":
        return _bank_export(args)
    questions = import_bank_csv(args.file)  # raises with the row number of every problem
    by_type: dict[str, int] = {}
    for q in questions:
        by_type[type(q).__name__] = by_type.get(type(q).__name__, 0) + 1
    print(f"{args.file}: {len(questions)} questions valid ("
          + ", ".join(f"{k} {v}" for k, v in sorted(by_type.items())) + ")")
    if args.out:
        export_bank_csv(questions, args.out)
        print(f"normalised copy written to {args.out}")
    return 0


def _bank_export(args: argparse.Namespace) -> int:
    from caselib.cases import export_bank_csv, export_moodle_xml, export_qti21, import_bank_csv, load_case

    questions = []
    for source in args.source or []:
        questions.extend(import_bank_csv(source))
    if args.cases:
        import dataclasses

        for case_yaml in sorted(Path(args.cases).rglob("case.yaml")):
            case = load_case(case_yaml.parent)
            # question ids are unique within a case; in a bank they are prefixed by the case id
            questions.extend(dataclasses.replace(q, id=f"{case.id}.{q.id}") for q in case.questions)
    if not questions:
        print("no questions: give --from BANK.csv and/or --cases DIR", file=sys.stderr)
        return 2
    try:
        if args.format == "csv":
            export_bank_csv(questions, args.file)
            print(f"{len(questions)} questions written to {args.file}")
            return 0
        exporter = export_moodle_xml if args.format == "moodle" else export_qti21
        report = exporter(questions, args.file, lang=args.lang)
    except ValueError as exc:
        print(f"caselib bank export: error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(report.written)} questions written to {args.file}")
    for qid, reason in report.skipped:
        print(f"  skipped {qid}: {reason}")
    for qid, note in report.notes:
        print(f"  note {qid}: {note}")
    return 0


def _cmd_catalog(args: argparse.Namespace) -> int:
    from caselib.catalog import format_catalog_summary

    print(format_catalog_summary(args.archive))
    return 0


def _cmd_quarantine(args: argparse.Namespace) -> int:
    from caselib.ingest.review import (
        default_preview_path,
        list_quarantined,
        publish_released,
        release,
        released,
        render_preview,
    )

    try:
        if args.action == "list":
            records = list_quarantined(args.archive, stage=args.stage, pending=args.pending)
            for r in records:
                rel = released(args.archive, r.id)
                status = f"released: {rel.decision.describe()}" if rel is not None else "pending"
                print(f"{r.id}  [{r.stage}]  {r.time}  {status}")
                print(f"    {r.reason}")
            print(f"{len(records)} quarantined object(s) in {args.archive}")
            return 0
        if args.action == "show":
            out = Path(args.out) if args.out else default_preview_path(args.archive, args.id)
            preview = render_preview(args.archive, args.id, out, mask=args.mask)
            print(f"{args.id}: {'; '.join(preview.reasons)}")
            print(f"  suspected text regions (row0, col0, row1, col1): {len(preview.text_regions)}")
            for rect in preview.text_regions:
                print(f"    {rect}")
            if preview.mask is not None:
                print(f"  mask {preview.mask.name}: {list(preview.mask.rectangles)} ({preview.mask.why})")
            else:
                print("  no configured mask matches (add one to ARCHIVE/private/pixel_masks.yaml)")
            print(f"  preview (it shows the burned-in text; keep it private): {preview.path}")
            return 0
        rec = release(args.archive, args.id, reviewer=args.reviewer, reason=args.reason,
                      mask=args.mask, reviewed_clean=args.clean, force=args.force)
        print(f"released {rec.id}: {rec.decision.describe()}")
        if rec.uncovered_text_regions:
            print(f"  note: {len(rec.uncovered_text_regions)} suspected text region(s) outside the mask stay visible")
        if not args.no_publish:
            print(publish_released(args.archive, args.id, compression=args.compression).summary())
        return 0
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"caselib quarantine {args.action}: error: {message}", file=sys.stderr)
        return 2


def _cmd_doctor(args: argparse.Namespace) -> int:
    from caselib.doctor import format_checks, run_checks

    checks = run_checks(fetch_data=not args.no_fetch, archive=args.archive)
    print(format_checks(checks))
    return 0 if all(c.ok for c in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caselib", description="Radiology teaching case library")
    parser.add_argument("--version", action="version", version=f"caselib {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="describe the DICOM in folders, zips, DICOMDIRs or files")
    p.add_argument("paths", nargs="+", help="folder, .zip, DICOMDIR or DICOM file")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("fetch", help="materialise data manifest files into the cache (all when no KEY)")
    p.add_argument("keys", nargs="*", metavar="KEY", help="file key or data-set name")
    p.add_argument("--demo", action="store_true", help="only the files of the demo case library")
    p.add_argument("--list", action="store_true", help="list the selected keys instead of fetching")
    p.add_argument("--manifest", default=None, help="another data_manifest.yaml")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("datasets", help="list data sets with their licences and citations")
    p.add_argument("--manifest", default=None)
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("ingest", help="de-identify, verify, store losslessly and catalog a DICOM source")
    p.add_argument("source", help="folder tree, .zip or DICOMDIR (never modified)")
    p.add_argument("--archive", required=True, help="archive folder (created if missing)")
    p.add_argument("--profile", default="teaching", help="de-identification profile (default: teaching)")
    p.add_argument("--compression", default="jpeg-ls", choices=["jpeg-ls", "jpeg2000", "rle", "none"])
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--store", default=None, metavar="NODE",
                   help="keep the archive's objects on this DICOMweb node of the PACS configuration instead of "
                        "ARCHIVE/objects (recorded in ARCHIVE/store.toml; credentials from the environment)")
    p.add_argument("--config", default=None,
                   help="with --store: PACS configuration (default $CASELIB_PACS_CONFIG or ~/.config/caselib/pacs.toml)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("deidentify", help="plain folder-to-folder de-identification")
    p.add_argument("source", help="folder tree, .zip or DICOMDIR (never modified)")
    p.add_argument("dest", help="output folder")
    p.add_argument("--profile", default="teaching")
    p.add_argument("--secret-file", default=None,
                   help="HMAC secret (default: $CASELIB_SECRET_FILE or ~/.local/share/caselib/secret.key)")
    p.add_argument("--quarantine", default=None,
                   help="folder for refused objects (default: DEST-quarantine beside DEST; they may hold PHI)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_deidentify)

    p = sub.add_parser("verify", help="re-run the residual-PHI scan over a whole archive")
    p.add_argument("archive")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("cases", help="validate, list, link, export (bundle) or import teaching cases",
                       description="validate|list [DIR]: check or list the cases under DIR (default: cases); "
                                   "link [DIR...] --archive A: link the cases to the archive's series (the "
                                   "classroom apps find their images through these links); "
                                   "export CASE... OUT.zip --archive DIR: write a case bundle; "
                                   "import BUNDLE --archive DIR: verify a bundle and add its cases")
    p.add_argument("action", choices=["validate", "list", "link", "export", "import"])
    p.add_argument("paths", nargs="*", metavar="ARG",
                   help="validate/list/link: folder searched for case.yaml; export: case ids or folders, then OUT.zip; "
                        "import: the bundle")
    p.add_argument("--archive", default=None,
                   help="link: the archive; export: archive holding the images; import: target archive")
    p.add_argument("--cases-dir", default=None,
                   help="export: where case ids are looked up (default: cases); import: where the cases go "
                        "(default: ARCHIVE/cases)")
    p.add_argument("--workers", type=int, default=1, help="import: ingest processes (default 1)")
    p.add_argument("--images", action="store_true",
                   help="validate: also check that every series is in the data manifest and every finding "
                        "points at an existing slice and pixel (fetches the files)")
    p.set_defaults(func=_cmd_cases)

    p = sub.add_parser("pacs", help="talk to a PACS: echo, query, pull into an archive, push an archive")
    p.add_argument("action", choices=["echo", "query", "pull", "push"])
    p.add_argument("node", help="PACS node name from the configuration file")
    p.add_argument("--config", default=None,
                   help="PACS configuration (TOML/YAML; default $CASELIB_PACS_CONFIG or ~/.config/caselib/pacs.toml)")
    p.add_argument("--via", choices=["dicomweb", "dimse", "move", "get"], default="dicomweb",
                   help="DICOMweb (default) or DIMSE (pull: dimse = move = C-MOVE, get = C-GET; push: C-STORE)")
    p.add_argument("--archive", default=None, help="pull: archive to ingest into; push: archive to publish")
    p.add_argument("--patient-id", default=None, help="query/pull: (0010,0020) Patient ID")
    p.add_argument("--accession", default=None, help="query/pull: (0008,0050) Accession Number")
    p.add_argument("--from", dest="date_from", default=None, help="query/pull: study date from (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", default=None, help="query/pull: study date to (YYYY-MM-DD)")
    p.add_argument("--modality", default=None, help="query/pull: modality in study, e.g. CT")
    p.add_argument("--description", default=None, help="query/pull: words of (0008,1030) Study Description")
    p.add_argument("--study", action="append", default=None,
                   help="pull: this Study Instance UID (repeatable); push: this archive study (repeatable)")
    p.add_argument("--case", action="append", default=None, help="push: the series of this case (repeatable)")
    p.add_argument("--cases-dir", default="cases", help="push --case: where case ids are looked up")
    p.add_argument("--compression", default="jpeg-ls", choices=["jpeg-ls", "jpeg2000", "rle", "none"])
    p.add_argument("--workers", type=int, default=1, help="pull: ingest processes (default 1)")
    p.add_argument("--force", action="store_true", help="pull: retrieve studies already pulled completely")
    p.add_argument("--store", default=None, metavar="NODE",
                   help="pull: keep the archive's objects on this DICOMweb node (as caselib ingest --store)")
    p.add_argument("--no-verify", action="store_true", help="push: skip the residual-PHI scan before sending")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_pacs)

    p = sub.add_parser("receive", help="C-STORE receiver: ingest what a PACS sends (AE-title allow-list)")
    p.add_argument("--archive", required=True, help="archive folder (created if missing)")
    p.add_argument("--port", type=int, required=True, help="TCP port to listen on (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--ae", default=None, help="our AE title (default: local.ae_title or CASELIB)")
    p.add_argument("--allow", action="append", default=None,
                   help="calling AE title allowed to send (repeatable; default: from --config)")
    p.add_argument("--config", default=None, help="PACS configuration file (local section, node AE titles)")
    p.add_argument("--compression", default="jpeg-ls", choices=["jpeg-ls", "jpeg2000", "rle", "none"])
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=_cmd_receive)

    p = sub.add_parser("bank", help="question bank spreadsheet: write the template, import (validate) a filled one")
    p.add_argument("action", choices=["template", "import", "export"])
    p.add_argument("file", help="CSV to write (template) or read (import); the output file (export)")
    p.add_argument("--out", default=None, help="with import: write a normalised CSV copy")
    p.add_argument("--format", choices=["moodle", "qti", "csv"], default="moodle", help="with export")
    p.add_argument("--from", dest="source", action="append", help="with export: a bank CSV (repeatable)")
    p.add_argument("--cases", default=None, help="with export: also the questions of every case under DIR")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="with export: language of the text")
    p.set_defaults(func=_cmd_bank)

    p = sub.add_parser("catalog", help="summarise the SQLite catalog of an archive")
    p.add_argument("archive", help="archive folder (or its catalog.sqlite)")
    p.set_defaults(func=_cmd_catalog)

    p = sub.add_parser("quarantine", help="list, preview and release quarantined objects")
    qsub = p.add_subparsers(dest="action", required=True)
    q = qsub.add_parser("list", help="quarantined objects with their reasons and release status")
    q.add_argument("--archive", required=True, help="archive folder")
    q.add_argument("--stage", default=None, help="only this stage (e.g. pixel-phi, verify, read)")
    q.add_argument("--pending", action="store_true", help="leave out released objects")
    q = qsub.add_parser("show", help="preview: suspected text outlined in red, the mask in cyan")
    q.add_argument("id", help="quarantine id (from 'caselib quarantine list')")
    q.add_argument("--archive", required=True, help="archive folder")
    q.add_argument("--out", default=None, help="PNG to write (default ARCHIVE/private/previews/ID.png)")
    q.add_argument("--mask", default=None, help="mask name to show (default: the matching configured mask)")
    q = qsub.add_parser("release", help="publish a quarantined object with a mask or as reviewed-clean")
    q.add_argument("id", help="quarantine id")
    q.add_argument("--archive", required=True, help="archive folder")
    q.add_argument("--reviewer", required=True, help="who looked at the image")
    q.add_argument("--reason", required=True, help="why it may be published")
    how = q.add_mutually_exclusive_group(required=True)
    how.add_argument("--mask", help="mask name, or 'auto' for the configured mask matching the image")
    how.add_argument("--clean", action="store_true", help="reviewed: no identifying text in the pixels")
    q.add_argument("--force", action="store_true", help="with --clean: although suspected text was found")
    q.add_argument("--no-publish", action="store_true", help="only record the release; the next ingest publishes")
    q.add_argument("--compression", default="jpeg-ls", choices=["jpeg-ls", "jpeg2000", "rle", "none"])
    p.set_defaults(func=_cmd_quarantine)

    p = sub.add_parser("doctor", help="check packages, decoders, data and the demo archive")
    p.add_argument("--no-fetch", action="store_true", help="only look at the cache, fetch nothing")
    p.add_argument("--archive", default=None, help="archive folder (default: $CASELIB_ARCHIVE or demo_archive)")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("demo", help="build the demo case library and/or serve it in JupyterLab")
    p.add_argument("action", choices=["build", "serve", "run"], help="run = build then serve")
    p.add_argument("--archive", default="demo_archive", help="archive folder (default: demo_archive)")
    p.add_argument("--notebooks", default="notebooks", help="notebook folder to open")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--workers", type=int, default=None, help="ingest processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_demo)
    return parser


def _version() -> str:
    from caselib import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CaselibError as exc:
        print(f"caselib {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
