#!/usr/bin/env python3
"""Helpers for metrics files (JSON lines) in tests.

  jsonl.py same A B            the two runs have identical curves (all fields except timings)
  jsonl.py get FILE KEY...      print the value at KEY path of the last line (e.g. test acc)
  jsonl.py greater A B KEY...   the last value in A is greater than in B
"""
import json
import sys


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def strip(d):
    return {k: (strip(v) if isinstance(v, dict) else v) for k, v in d.items()
            if k not in ("time_s", "images_per_s")}


def get(path, keys):
    v = lines(path)[-1]
    for k in keys:
        v = v[k]
    return v


cmd = sys.argv[1]
if cmd == "same":
    a, b = [list(map(strip, lines(p))) for p in sys.argv[2:4]]
    if a != b or not a:
        print("curves differ:\n", a, "\n", b)
        sys.exit(1)
    print("identical curves:", len(a), "epochs")
elif cmd == "get":
    print(get(sys.argv[2], sys.argv[3:]))
elif cmd == "greater":
    x, y = get(sys.argv[2], sys.argv[4:]), get(sys.argv[3], sys.argv[4:])
    print(f"{x} > {y}: {x > y}")
    sys.exit(0 if x > y else 1)
else:
    sys.exit(f"unknown command {cmd}")
