#!/usr/bin/env python3
"""Write tiny data sets in the exact CIFAR-10 / CIFAR-100 binary formats.

CIFAR-10:  data_batch_1..5.bin and test_batch.bin, records of 1 label byte + 3072 bytes (CHW).
CIFAR-100: train.bin and test.bin, records of coarse byte, fine byte, 3072 bytes.
Images of class c are noise around a class-specific colour and stripe pattern, so a model can
learn them. Usage: make_cifar.py DIR {10|100} N_PER_CLASS_TRAIN N_PER_CLASS_TEST [corrupt]
"""
import os
import sys

import numpy as np

out, kind, ntr, nte = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
corrupt = sys.argv[5] if len(sys.argv) > 5 else None
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
classes = 10 if kind == 10 else 100


def image(c):
    base = np.zeros((3, 32, 32), np.float32)
    colour = np.array([(c * 37) % 255, (c * 91) % 255, (c * 53) % 255], np.float32)
    base += colour[:, None, None]
    ys, xs = np.mgrid[0:32, 0:32]
    stripes = 60 * np.sin((xs * np.cos(c) + ys * np.sin(c)) * 0.6)
    base += stripes[None]
    base += rng.normal(0, 25, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8).reshape(-1)


def records(n_per_class):
    recs = []
    for i in range(n_per_class):
        for c in range(classes):
            img = image(c)
            if kind == 10:
                recs.append(bytes([c]) + img.tobytes())
            else:
                recs.append(bytes([c // 5, c]) + img.tobytes())
    return recs


tr, te = records(ntr), records(nte)
if kind == 10:
    chunks = [tr[i::5] for i in range(5)]
    for i, ch in enumerate(chunks):
        with open(os.path.join(out, f"data_batch_{i + 1}.bin"), "wb") as f:
            f.write(b"".join(ch))
    with open(os.path.join(out, "test_batch.bin"), "wb") as f:
        f.write(b"".join(te))
else:
    with open(os.path.join(out, "train.bin"), "wb") as f:
        f.write(b"".join(tr))
    with open(os.path.join(out, "test.bin"), "wb") as f:
        f.write(b"".join(te))

if corrupt == "truncate":
    name = "data_batch_3.bin" if kind == 10 else "train.bin"
    p = os.path.join(out, name)
    data = open(p, "rb").read()
    open(p, "wb").write(data[:-100])
elif corrupt == "label":
    name = "test_batch.bin" if kind == 10 else "test.bin"
    p = os.path.join(out, name)
    data = bytearray(open(p, "rb").read())
    rec = 3073 if kind == 10 else 3074
    data[2 * rec + (0 if kind == 10 else 1)] = 200
    open(p, "wb").write(bytes(data))
