#!/usr/bin/python3
"""Write a safetensors file the way another framework might (python3 + numpy only), for atl's
reader to load: an unpadded, pretty-printed header, metadata last, and tensor data stored in a
different order than the header lists them.

    write_safetensors.py OUT

Contents (checked by tests/python/interop_driver.c, st-check):
    py.f32  F32 [2, 3]  arange(6) * 1.5 - 2
    py.i64  I64 [3]     [-1, 0, 2**62]
    py.u8   U8  [4]     [9, 8, 7, 6]
    __metadata__        {"writer": "numpy", "version": "1"}
"""
import json
import struct
import sys

import numpy as np


def main():
    out = sys.argv[1]
    arrays = {
        "py.f32": ("F32", (np.arange(6) * 1.5 - 2).astype("<f4").reshape(2, 3)),
        "py.i64": ("I64", np.array([-1, 0, 2**62], dtype="<i8")),
        "py.u8": ("U8", np.array([9, 8, 7, 6], dtype="u1")),
    }
    # Data order: u8, f32, i64 (reverse of the header order below).
    blobs, offsets, pos = [], {}, 0
    for name in ["py.u8", "py.f32", "py.i64"]:
        b = arrays[name][1].tobytes()
        offsets[name] = [pos, pos + len(b)]
        pos += len(b)
        blobs.append(b)
    header = {}
    for name in ["py.i64", "py.f32", "py.u8"]:
        dt, arr = arrays[name]
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": offsets[name]}
    header["__metadata__"] = {"writer": "numpy", "version": "1"}
    text = json.dumps(header, indent=2).encode("utf-8")
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
