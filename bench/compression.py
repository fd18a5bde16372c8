"""Storage ratio and decode speed of each lossless option of the archive, on real CT and MR series.

Goal (ingest issue): JPEG-LS at least 2.5x on CT, bit-exact.

For every series (``tcia-lung-ct``, ``ge-head-ct``, ``pediatric-brain-mr``,
``tcia-gbm-mr``, fetched by manifest name) and every option of
:class:`caselib.store.Compression` (none, RLE, JPEG-LS, JPEG 2000 lossless) this
measures, on the same decoded pixels:

* ``ratio``: uncompressed pixel bytes / stored pixel bytes (the encapsulated
  (7FE0,0010) value, item headers included);
* ``file``: input file bytes / stored file bytes (what the ingest report sums);
* ``enc MB/s``: the encoder alone (``pydicom.pixels.compress``, the call the store
  makes), per uncompressed megabyte (10^6 bytes);
* ``dec MB/s``: decoding the stored file's pixel data (``pixel_array``);
* ``put MB/s``: the whole :func:`caselib.store.transcode` (encode, serialise,
  decode again and compare, fingerprint): what an ingest pays per object;
* ``exact``: every decoded slice equals the original bit for bit.

Peers a user would otherwise pick, run in the same process on the same files:
``gzip -6`` of the uncompressed file (zlib level 6; ``ratio`` on the pixel bytes,
``file`` on the whole file) and ``gdcmconv --jpegls`` (python-gdcm's
``ImageChangeTransferSyntax`` to JPEG-LS lossless, then decoded by pydicom).

Run::

    CASELIB_DATA_MIRRORS=../shared/data python bench/compression.py [--repeat N] [--series NAME ...]

The last line printed is one JSON object with all figures.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import io
import json
import os
import platform
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.pixels import compress, pixel_array

from caselib.data import fetch_dataset
from caselib.store import Compression, transcode

warnings.simplefilter("ignore")

SERIES = ("tcia-lung-ct", "ge-head-ct", "pediatric-brain-mr", "tcia-gbm-mr")
GOAL_CT_JPEG_LS = 2.5
MB = 1e6


@dataclass
class Row:
    series: str
    method: str
    n: int = 0
    pixel_in: int = 0
    pixel_out: int = 0
    file_in: int = 0
    file_out: int = 0
    t_encode: float = 0.0
    t_decode: float = 0.0
    t_put: float = 0.0
    exact: bool = True
    notes: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        def rate(t: float) -> float | None:
            return round(self.pixel_in / MB / t, 1) if t > 0 else None

        return {
            "series": self.series,
            "method": self.method,
            "n_files": self.n,
            "pixel_bytes_in": self.pixel_in,
            "pixel_bytes_out": self.pixel_out,
            "file_bytes_in": self.file_in,
            "file_bytes_out": self.file_out,
            "ratio": round(self.pixel_in / self.pixel_out, 3) if self.pixel_out else None,
            "file_ratio": round(self.file_in / self.file_out, 3) if self.file_out else None,
            "encode_mb_s": rate(self.t_encode),
            "decode_mb_s": rate(self.t_decode),
            "put_mb_s": rate(self.t_put),
            "bit_exact": self.exact,
            "notes": sorted(set(self.notes)),
        }


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of `repeat` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _decode(data: bytes) -> np.ndarray:
    return pixel_array(pydicom.dcmread(io.BytesIO(data)), raw=True)


def _encoded_pixel_bytes(data: bytes) -> int:
    ds = pydicom.dcmread(io.BytesIO(data))
    return len(ds.PixelData)


def bench_option(series: str, files: list[Path], option: Compression, repeat: int) -> Row:
    row = Row(series, option.value)
    for path in files:
        ds = pydicom.dcmread(path)
        arr = pixel_array(ds, raw=True)
        row.n += 1
        row.pixel_in += len(ds.PixelData)
        row.file_in += path.stat().st_size
        # the store's whole path: encode + serialise + decode + compare + fingerprint
        t_put, out = _best(partial(transcode, ds, option), repeat)
        row.t_put += t_put
        row.file_out += len(out.data)
        if out.compression != option.value:
            row.notes.append(f"{path.name}: {out.note}")
        stored = pydicom.dcmread(io.BytesIO(out.data))
        row.pixel_out += len(stored.PixelData)
        # the encoder alone, same call and options as the store
        if option is not Compression.NONE and out.compression == option.value:
            kwargs: dict[str, Any] = {}
            if option is Compression.RLE:
                kwargs["encoding_plugin"] = "pylibjpeg"
            if option is Compression.JPEG_2000:
                kwargs["use_mct"] = False

            def encode(path: Path = path, arr: np.ndarray = arr, kwargs: dict[str, Any] = kwargs) -> None:
                work = pydicom.dcmread(path)
                del work.PixelData
                compress(work, str(option.transfer_syntax), arr, generate_instance_uid=False, **kwargs)

            t_enc, _ = _best(encode, repeat)
            row.t_encode += t_enc
        t_dec, decoded = _best(partial(_decode, out.data), repeat)
        row.t_decode += t_dec
        row.exact &= bool(decoded.dtype == arr.dtype and decoded.shape == arr.shape and np.array_equal(decoded, arr))
    return row


def bench_gzip(series: str, files: list[Path], repeat: int) -> Row:
    row = Row(series, "gzip -6 (peer)")
    for path in files:
        raw_file = path.read_bytes()
        ds = pydicom.dcmread(path)
        pixels = bytes(ds.PixelData)
        arr = pixel_array(ds, raw=True)
        row.n += 1
        row.pixel_in += len(pixels)
        row.file_in += len(raw_file)
        t_enc, packed = _best(partial(zlib.compress, pixels, 6), repeat)
        row.t_encode += t_enc
        row.pixel_out += len(packed)
        row.file_out += len(gzip.compress(raw_file, compresslevel=6, mtime=0))
        t_dec, unpacked = _best(partial(zlib.decompress, packed), repeat)
        row.t_decode += t_dec
        back = np.frombuffer(unpacked, dtype=arr.dtype).reshape(arr.shape)
        row.exact &= bool(np.array_equal(back, arr))
    return row


def bench_gdcm(series: str, files: list[Path], repeat: int) -> Row | None:
    try:
        import gdcm  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    row = Row(series, "gdcmconv --jpegls (peer)")
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(files):
            ds = pydicom.dcmread(path)
            arr = pixel_array(ds, raw=True)
            out_path = os.path.join(tmp, f"{i}.dcm")

            def convert(path: Path = path, out_path: str = out_path) -> None:
                reader = gdcm.ImageReader()
                reader.SetFileName(str(path))
                if not reader.Read():
                    raise RuntimeError(f"gdcm cannot read {path}")
                change = gdcm.ImageChangeTransferSyntax()
                change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLSLossless))
                change.SetInput(reader.GetImage())
                if not change.Change():
                    raise RuntimeError(f"gdcm cannot transcode {path}")
                writer = gdcm.ImageWriter()
                writer.SetFileName(out_path)
                writer.SetFile(reader.GetFile())
                writer.SetImage(change.GetOutput())
                if not writer.Write():
                    raise RuntimeError(f"gdcm cannot write {out_path}")

            t_enc, _ = _best(convert, repeat)
            data = Path(out_path).read_bytes()
            row.n += 1
            row.pixel_in += len(ds.PixelData)
            row.file_in += path.stat().st_size
            row.file_out += len(data)
            row.pixel_out += _encoded_pixel_bytes(data)
            row.t_encode += t_enc  # includes gdcm's file read and write
            t_dec, decoded = _best(partial(_decode, data), repeat)
            row.t_decode += t_dec
            row.exact &= bool(decoded.dtype == arr.dtype and decoded.shape == arr.shape and np.array_equal(decoded, arr))
    row.notes.append("encode time includes gdcm reading and writing the files")
    return row


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Row]) -> None:
    header = f"{'series':20} {'method':26} {'n':>4} {'MB in':>7} {'ratio':>6} {'file':>6} {'enc MB/s':>9} {'dec MB/s':>9} {'put MB/s':>9}  exact"
    print(header)
    print("-" * len(header))
    last = None
    for row in rows:
        f = row.figures()
        if last is not None and last != row.series:
            print()
        last = row.series
        print(
            f"{row.series:20} {row.method:26} {row.n:>4} {row.pixel_in / MB:>7.1f} "
            f"{_fmt(f['ratio'], '6.2f'):>6} {_fmt(f['file_ratio'], '6.2f'):>6} "
            f"{_fmt(f['encode_mb_s'], '9.1f'):>9} {_fmt(f['decode_mb_s'], '9.1f'):>9} "
            f"{_fmt(f['put_mb_s'], '9.1f'):>9}  {'yes' if row.exact else 'NO'}"
        )


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "machine": platform.machine()}
    for dist in ("pydicom", "numpy", "pyjpegls", "pylibjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle", "python-gdcm"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="*", default=list(SERIES), help="manifest data sets to run")
    parser.add_argument("--repeat", type=int, default=1, help="time each step N times, keep the best")
    parser.add_argument("--no-peers", action="store_true", help="skip gzip and gdcm")
    args = parser.parse_args(argv)

    rows: list[Row] = []
    for series in args.series:
        folder = fetch_dataset(series, progress=False)
        files = sorted(folder.rglob("*.dcm"))
        print(f"# {series}: {len(files)} files from {folder}", file=sys.stderr)
        for option in (Compression.NONE, Compression.RLE, Compression.JPEG_LS, Compression.JPEG_2000):
            rows.append(bench_option(series, files, option, args.repeat))
        if not args.no_peers:
            rows.append(bench_gzip(series, files, args.repeat))
            peer = bench_gdcm(series, files, args.repeat)
            if peer is not None:
                rows.append(peer)

    print()
    print_table(rows)
    print()
    print("ratio = uncompressed pixel bytes / stored pixel bytes; file = input file bytes / stored file bytes;")
    print("MB = 10^6 bytes of uncompressed pixel data; put = caselib.store.transcode (encode + verify + fingerprint).")
    for row in rows:
        for note in sorted(set(row.notes)):
            print(f"note [{row.series} / {row.method}]: {note}")

    figures = [r.figures() for r in rows]
    ct_jls = [f for f in figures if f["method"] == "jpeg-ls" and f["series"] in ("tcia-lung-ct", "ge-head-ct")]
    goal_met = bool(ct_jls) and all((f["ratio"] or 0) >= GOAL_CT_JPEG_LS and f["bit_exact"] for f in ct_jls)
    print()
    for f in ct_jls:
        print(f"JPEG-LS on {f['series']}: {f['ratio']:.2f}x, bit-exact {'yes' if f['bit_exact'] else 'NO'} (goal >= {GOAL_CT_JPEG_LS}x)")
    all_exact = all(f["bit_exact"] for f in figures)
    print(f"goal JPEG-LS >= {GOAL_CT_JPEG_LS}x on CT, bit-exact: {'MET' if goal_met else 'NOT MET'}; every method bit-exact: {'yes' if all_exact else 'NO'}")
    print(json.dumps({
        "bench": "compression",
        "goal": {"ct_jpeg_ls_min_ratio": GOAL_CT_JPEG_LS, "met": goal_met},
        "all_bit_exact": all_exact,
        "repeat": args.repeat,
        "versions": _versions(),
        "results": figures,
    }, separators=(",", ":")))
    return 0 if goal_met and all_exact else 1


if __name__ == "__main__":
    sys.exit(main())
