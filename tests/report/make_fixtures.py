#!/usr/bin/env python3
"""Writes the fixtures of the `atlc report` tests (tests/lit/report/) in the formats of
docs/EXPERIMENTS.md: a run directory (run/), sweep CSVs (sweep.csv: transfer noise x 2 seeds x
2 tasks x 4 methods; grid.csv: two swept parameters as a grid; zip.csv: two zipped parameters) and
a sweep directory (sweepdir/: results.csv, shared pretraining at the top, points with their own
experiment.json). The values are chosen so that the expected table entries are easy to check by
hand (see the comments). Run it from anywhere; it rewrites the files next to itself."""
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ["analog_tl", "digital_tl", "analog_scratch", "digital_scratch"]
TASKS = ["2class", "5class"]
SEEDS = [1, 2]
# final accuracy per (task, method): seed 1, seed 2
#   2class: digital TL 91.0 +- 1.4, analog TL 87.0 +- 1.4, analog scratch 68.0 +- 2.8,
#           digital scratch 77.0 +- 2.8
#   5class: digital TL 71.0 +- 1.4, analog TL 66.0 +- 2.8, analog scratch 42.0 +- 2.8,
#           digital scratch 51.0 +- 1.4
FINAL = {
    ("2class", "digital_tl"): (0.90, 0.92), ("2class", "analog_tl"): (0.86, 0.88),
    ("2class", "analog_scratch"): (0.70, 0.66), ("2class", "digital_scratch"): (0.75, 0.79),
    ("5class", "digital_tl"): (0.72, 0.70), ("5class", "analog_tl"): (0.64, 0.68),
    ("5class", "analog_scratch"): (0.40, 0.44), ("5class", "digital_scratch"): (0.50, 0.52),
}
BEST_BONUS = 0.01  # best accuracy = final + 0.01 (an earlier epoch was better)


def dump(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def metrics(path, final, best, epochs=3, loss0=1.2):
    """One line per epoch; test accuracy climbs to `best` at epoch epochs-1, ends at `final`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for e in range(1, epochs + 1):
            acc = best if e == epochs - 1 else final if e == epochs else best - 0.1
            line = {"epoch": e, "step": 10 * e, "lr": 0.01,
                    "train_loss": round(loss0 / e, 4), "train_acc": round(acc - 0.02, 4),
                    "time_s": 0.5 * e, "images_per_s": 1000.0,
                    "test": {"loss": round(loss0 / e + 0.1, 4), "acc": round(acc, 4), "n": 100}}
            f.write(json.dumps(line) + "\n")


def experiment_json(name, device, params):
    return {
        "experiment": name, "file": "examples/" + name + ".atl", "model": "models/mlp.atl",
        "defines": ["hidden=16"], "seeds": SEEDS,
        "pretrain": {"data": "synthetic:classes=10:n=300", "epochs": 3, "batch": 16, "lr": 0.05},
        "tasks": {t: {"data": "synthetic", "epochs": 3, "batch": 8, "lr": 0.01,
                      "classes": int(t[0])} for t in TASKS},
        "methods": METHODS, "params": params,
        "analog": {"device": device, "algorithm": "cttv2", "transfer_noise": 0.0,
                   "tile_rows": 512, "tile_cols": 512},
    }


def write_run(root):
    shutil.rmtree(root, ignore_errors=True)
    dump(os.path.join(root, "experiment.json"), experiment_json("fixture", "reram_om", {}))
    for s in SEEDS:
        metrics(os.path.join(root, "pretrain-0badc0de-s%d" % s, "metrics.jsonl"),
                0.60 + 0.02 * s, 0.62 + 0.02 * s, epochs=4, loss0=2.3)
        dump(os.path.join(root, "pretrain-0badc0de-s%d" % s, "done.json"), {"seed": s})
    runs = []
    for s_i, s in enumerate(SEEDS):
        for t in TASKS:
            for m in METHODS:
                final = FINAL[(t, m)][s_i]
                best = round(final + BEST_BONUS, 4)
                d = os.path.join(root, "s%d" % s, t, m)
                metrics(os.path.join(d, "metrics.jsonl"), final, best, loss0=2.0 - final)
                r = {"task": t, "method": m, "seed": s, "final_acc": final, "best_acc": best,
                     "final_loss": 0.4, "steps": 30, "seconds": 1.5, "params": {}}
                dump(os.path.join(d, "result.json"), r)
                if m.startswith("analog"):
                    dump(os.path.join(d, "pulses.json"),
                         {"net.fc1": {"tiles": 1, "pulses_up_a": 100, "pulses_down_a": 90,
                                      "pulses_up_c": 10, "pulses_down_c": 8, "transfers": 5}})
                runs.append(r)
    dump(os.path.join(root, "results.json"), {"experiment": "fixture", "params": {}, "runs": runs})


def analog_tl_acc(task, seed_i, tau):
    # analog TL loses 0.4 accuracy per unit of transfer noise (tau = 0.1 -> -4 points)
    return round(FINAL[(task, "analog_tl")][seed_i] - 0.4 * tau, 4)


def write_csv(path, param_cols, points):
    """points: list of value tuples, one per point; analog_tl depends on the first value."""
    with open(path, "w") as f:
        f.write(",".join(["point", "seed"] + param_cols +
                         ["task", "method", "final_acc", "best_acc", "final_loss", "steps",
                          "seconds"]) + "\n")
        for p, vals in enumerate(points):
            for s_i, s in enumerate(SEEDS):
                for t in TASKS:
                    for m in METHODS:
                        tau = float(vals[0])
                        acc = analog_tl_acc(t, s_i, tau) if m == "analog_tl" else FINAL[(t, m)][s_i]
                        f.write(",".join([str(p), str(s)] + [str(v) for v in vals] +
                                         [t, m, "%g" % acc, "%g" % round(acc + BEST_BONUS, 4),
                                          "0.4", "30", "1.5"]) + "\n")


def write_sweepdir(root):
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    write_csv(os.path.join(root, "results.csv"), ["analog.transfer_noise"], [(0,), (0.1,)])
    metrics(os.path.join(root, "pretrain-1234abcd-s1", "metrics.jsonl"), 0.6, 0.62, epochs=4)
    # each point records its own analog set-up: here the points use different devices
    for p, (tau, dev) in enumerate([(0, "reram_hfo2"), (0.1, "pcm")]):
        pd = os.path.join(root, "points", "P%03d" % p)
        dump(os.path.join(pd, "experiment.json"),
             experiment_json("fixsweep", dev, {"analog.transfer_noise": str(tau)}))
        for m in ["analog_tl", "digital_tl"]:
            metrics(os.path.join(pd, "s1", "2class", m, "metrics.jsonl"), 0.8, 0.82)


if __name__ == "__main__":
    write_run(os.path.join(HERE, "run"))
    write_csv(os.path.join(HERE, "sweep.csv"), ["analog.transfer_noise"], [(0,), (0.1,), (0.2,)])
    # a grid of two parameters: every transfer noise with both output-noise values
    write_csv(os.path.join(HERE, "grid.csv"), ["analog.transfer_noise", "analog.io.out_noise"],
              [(0, 0.0), (0, 0.06), (0.1, 0.0), (0.1, 0.06)])
    # zipped parameters: they change together
    write_csv(os.path.join(HERE, "zip.csv"), ["analog.transfer_noise", "finetune.lr"],
              [(0, 0.01), (0.1, 0.02), (0.2, 0.04)])
    write_sweepdir(os.path.join(HERE, "sweepdir"))
