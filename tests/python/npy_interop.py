#!/usr/bin/python3
"""NumPy side of the .npy interoperability test (python3 + numpy only).

    npy_interop.py write DIR   numpy writes py_<dtype>_v<major>.npy in format versions 1.0, 2.0
                               and 3.0, plus files atl must reject (Fortran order, big-endian,
                               float16) for atl to read
    npy_interop.py check DIR   numpy loads atl_<dtype>.npy written by atl and compares them with
                               the fixture (exit 1 on mismatch)

Fixture: shape (2, 3, 4), element i (C order) is
    u1: (37 i + 11) mod 256   i4: 7 - 3000 i   i8: (i - 2) 2^40 + i   f4: i/4 - 1.5   f8: i/3
(keep in sync with npy_value in interop_driver.c).
"""
import os
import sys

import numpy as np
from numpy.lib import format as npformat

SHAPE = (2, 3, 4)


def fixture(code):
    i = np.arange(24, dtype=np.int64)
    if code == "u1":
        a = ((37 * i + 11) % 256).astype("u1")
    elif code == "i4":
        a = (7 - 3000 * i).astype("<i4")
    elif code == "i8":
        a = ((i - 2) * (1 << 40) + i).astype("<i8")
    elif code == "f4":
        a = (i / 4.0 - 1.5).astype("<f4")
    else:
        a = (i / 3.0).astype("<f8")
    return a.reshape(SHAPE)


CODES = ["u1", "i4", "i8", "f4", "f8"]


def write(d):
    for code in CODES:
        a = fixture(code)
        for version in [(1, 0), (2, 0), (3, 0)]:
            with open(os.path.join(d, "py_%s_v%d.npy" % (code, version[0])), "wb") as f:
                npformat.write_array(f, a, version=version)
    np.save(os.path.join(d, "py_fortran.npy"), np.asfortranarray(fixture("f4")))
    np.save(os.path.join(d, "py_be.npy"), fixture("f4").astype(">f4"))
    np.save(os.path.join(d, "py_f2.npy"), fixture("f4").astype("<f2"))
    return 0


def check(d):
    bad = 0
    for code in CODES:
        path = os.path.join(d, "atl_%s.npy" % code)
        with open(path, "rb") as f:
            version = npformat.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = npformat.read_array_header_2_0(f)
            offset = f.tell()
        a = np.load(path, allow_pickle=False)
        want = fixture(code)
        ok = (
            a.dtype == want.dtype
            and a.shape == want.shape
            and not fortran
            and offset % 64 == 0
            and np.array_equal(a, want)
        )
        print("%s: version %s dtype %s shape %s data offset %d: %s" % (path, version, a.dtype, a.shape, offset, "OK" if ok else "MISMATCH"))
        bad += not ok
    return 1 if bad else 0


def main():
    mode, d = sys.argv[1], sys.argv[2]
    return write(d) if mode == "write" else check(d)


if __name__ == "__main__":
    sys.exit(main())
