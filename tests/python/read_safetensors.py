#!/usr/bin/python3
"""An independent safetensors reader (python3 + numpy only) used to check files written by atl.

    read_safetensors.py FILE            print every tensor and the metadata
    read_safetensors.py FILE --fixture  also compare with the fixture that
                                        tests/python/interop_driver.c writes (exit 1 on mismatch)

It follows the format description of huggingface/safetensors: 8 bytes little-endian u64 N, N
bytes of UTF-8 JSON (starting with '{', optionally padded with spaces), then the byte buffer;
each tensor entry has "dtype", "shape" and "data_offsets" [BEGIN, END) relative to the buffer,
tensors tile the buffer with no holes or overlaps, values are little-endian in C order, and the
optional "__metadata__" maps strings to strings. Duplicate keys are rejected.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "F8_E5M2": np.dtype("u1"),  # raw bytes: numpy has no 8-bit floats
    "F8_E4M3": np.dtype("u1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # converted below: the upper half of a float32
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
}


class FormatError(Exception):
    pass


def no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise FormatError("duplicate key %r" % k)
        d[k] = v
    return d


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise FormatError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise FormatError("header length %d exceeds the file" % n)
    header_bytes = raw[8 : 8 + n]
    if header_bytes[:1] != b"{":
        raise FormatError("header does not start with '{'")
    header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=no_duplicates)
    buf = raw[8 + n :]
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise FormatError("__metadata__ must map strings to strings")
    tensors = {}
    spans = []
    for name, info in header.items():
        if set(info) < {"dtype", "shape", "data_offsets"}:
            raise FormatError("%s: incomplete entry %r" % (name, info))
        dt = DTYPES.get(info["dtype"])
        if dt is None:
            raise FormatError("%s: unknown dtype %r" % (name, info["dtype"]))
        shape = info["shape"]
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise FormatError("%s: bad shape %r" % (name, shape))
        begin, end = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * dt.itemsize:
            raise FormatError("%s: %d bytes for %d elements of %s" % (name, end - begin, count, info["dtype"]))
        if not 0 <= begin <= end <= len(buf):
            raise FormatError("%s: offsets out of range" % name)
        spans.append((begin, end, name))
        arr = np.frombuffer(buf, dtype=dt, count=count, offset=begin).reshape(shape)
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = (info["dtype"], arr)
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise FormatError("%s starts at %d, expected %d (hole or overlap)" % (name, begin, pos))
        pos = end
    if pos != len(buf):
        raise FormatError("tensors cover %d of %d buffer bytes" % (pos, len(buf)))
    return tensors, meta, n


def fixture():
    """The tensors interop_driver.c writes (keep in sync with st_fixture there)."""
    i12 = np.arange(12)
    return {
        "weights.f32": ("F32", (i12 * 0.25 - 1.5).astype(np.float32).reshape(3, 4)),
        "bias.f64": ("F64", np.arange(5) * 0.5 - 7.0),
        "count.i64": ("I64", (np.arange(4, dtype=np.int64) - 2) * (1 << 40) + np.arange(4)),
        "idx.i32": ("I32", (7 - 3 * np.arange(8, dtype=np.int32)).reshape(2, 2, 2)),
        "mask.u8": ("U8", ((np.arange(7) * 37 + 11) % 256).astype(np.uint8)),
        "half.f16": ("F16", np.array([1.0, -2.0, 0.333251953125], dtype=np.float16)),
        "bf.bf16": ("BF16", np.array([1.0, -3.0, 3.140625], dtype=np.float32)),
        "scalar.f32": ("F32", np.array(42.5, dtype=np.float32)),
        "empty.f32": ("F32", np.zeros((0, 4), dtype=np.float32)),
        "flag.bool": ("BOOL", np.array([True, False, True])),
        "small.i8": ("I8", np.array([-128, 0, 127], dtype=np.int8)),
        "wide.u16": ("U16", np.array([65535, 1], dtype=np.uint16)),
        "big.u32": ("U32", np.array([4000000000], dtype=np.uint32)),
        "huge.u64": ("U64", np.array([(1 << 63) + 5], dtype=np.uint64)),
        "short.i16": ("I16", np.array([-300, 300], dtype=np.int16)),
    }, {"format": "pt", "step": "1200", "model_hash": "sha256:0123abcd", "note": "\u00e9t\u00e9"}


def main():
    path = sys.argv[1]
    tensors, meta, n = read(path)
    print("%s: header %d bytes, %d tensors, metadata %s" % (path, n, len(tensors), meta))
    for name, (dt, arr) in tensors.items():
        print("  %-12s %-5s %-10s %s" % (name, dt, list(arr.shape), arr.ravel()[:6].tolist()))
    if "--fixture" not in sys.argv[2:]:
        return 0
    want, want_meta = fixture()
    bad = []
    if meta != want_meta:
        bad.append("metadata %r != %r" % (meta, want_meta))
    if set(tensors) != set(want):
        bad.append("names %s != %s" % (sorted(tensors), sorted(want)))
    for name, (dt, arr) in want.items():
        if name not in tensors:
            continue
        got_dt, got = tensors[name]
        if got_dt != dt or got.shape != arr.shape or not np.array_equal(got, arr):
            bad.append("%s: got %s %s %s, want %s %s %s" % (name, got_dt, got.shape, got.tolist(), dt, arr.shape, arr.tolist()))
    if n % 8 != 0:
        bad.append("header length %d not padded to 8 bytes" % n)
    for b in bad:
        print("MISMATCH: " + b)
    print("fixture: %s" % ("OK" if not bad else "%d mismatches" % len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FormatError as e:
        print("format error: %s" % e)
        sys.exit(1)
