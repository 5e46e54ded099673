#!/usr/bin/env python3
"""Fits temperature scaling for a classification package on held-out cases and measures it.

    .venv/bin/python Tools/calibrate.py --binary PATH/mambanode --model Samples/models/ct-classify \
        --kind ct --fit-seeds 6220:6320 --test-seeds 6320:6420 --work DIR \
        [--write] [--diagram Samples/models/ct-classify/reliability.png]

Both seed ranges are made by Tools/make_cases.py (through DICOM, as evaluate.py does) and every
case is run through `mambanode process`, which prints the network's logit z before calibration.
The temperature T minimises the negative log-likelihood of the truths under sigma(z / T) on the
fit set (Guo et al. 2017, "On Calibration of Modern Neural Networks"); the test set, never used
for the fit, gives the figures before (the package as it was) and after: the expected calibration
error, ROC AUC, accuracy at the threshold, Brier score and log-loss. `--write` stores
`classification.calibration` in model.json (docs/model-package.md, Calibration), `--diagram` draws
the reliability diagram of the test set before and after.

ECE here is of the reported probability of the positive class (what the SR carries): cases are
put in `--bins` equal-width bins of that probability and
ECE = sum over bins of (cases in bin / cases) * |fraction positive in bin - mean probability in bin|.
Runs with the project's .venv (numpy, scipy, matplotlib); the logits are cached in each case folder.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
from scipy.optimize import minimize_scalar

HERE = os.path.dirname(os.path.abspath(__file__))
LOGIT = re.compile(r"classification: probability \S+ → \S+ \(logit (\S+)\)")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def probabilities(logits, calibration):
    """What the node reports for these logits under a package's `calibration` (None: sigma(z))."""
    z = np.asarray(logits, dtype=np.float64)
    if calibration is None:
        return sigmoid(z)
    if calibration.get("method") != "temperature":
        raise SystemExit(f"calibrate.py: unknown calibration method {calibration.get('method')!r}")
    return sigmoid(z / float(calibration["temperature"]))


def log_loss(p, y):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def fit_temperature(logits, truths):
    """T > 0 minimising the mean negative log-likelihood of truths under sigma(z / T).

    Searched over log T, where the loss is smooth and unimodal for separable-ish data."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(truths, dtype=np.float64)

    def nll(log_t):
        s = z / math.exp(log_t)
        # log(1 + e^-s) and log(1 + e^s) without overflow.
        return float(np.mean(y * np.logaddexp(0, -s) + (1 - y) * np.logaddexp(0, s)))

    found = minimize_scalar(nll, bounds=(math.log(1e-2), math.log(1e3)), method="bounded", options={"xatol": 1e-6})
    return math.exp(found.x)


def ece(p, y, bins):
    """Expected calibration error of the positive-class probability over equal-width bins."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        member = index == b
        if member.any():
            total += member.sum() / len(p) * abs(y[member].mean() - p[member].mean())
    return total


def auc(p, y):
    """ROC AUC: the share of positive-negative pairs ranked right, ties counting half."""
    positives = [s for s, t in zip(p, y) if t]
    negatives = [s for s, t in zip(p, y) if not t]
    if not positives or not negatives:
        return float("nan")
    wins = sum((a > b) + 0.5 * (a == b) for a in positives for b in negatives)
    return wins / (len(positives) * len(negatives))


def figures(p, y, threshold, bins):
    y = np.asarray(y, dtype=np.float64)
    return {
        "ece": ece(p, y, bins),
        "auc": auc(p, y),
        "accuracy": float(np.mean((np.asarray(p) >= threshold) == (y == 1))),
        "brier": float(np.mean((np.asarray(p) - y) ** 2)),
        "log_loss": log_loss(np.asarray(p), y),
    }


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TCP_NODELAY="1"))
    if r.returncode != 0:
        raise SystemExit(f"calibrate.py: {' '.join(cmd)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r.stdout


def case_logit(binary, model, name, case):
    """The case's logit from `mambanode process` (cached per model in the case folder)."""
    cache = os.path.join(case, f"logit-{name}.json")
    if os.path.exists(cache):
        return json.load(open(cache))["logit"]
    out = run([binary, "process", "--model", model, "--input", os.path.join(case, "dicom"), "--output",
               os.path.join(case, f"results-{name}")])  # fmt: skip
    found = LOGIT.findall(out)
    if len(found) != 1:
        raise SystemExit(f"calibrate.py: {case}: expected one classification in the output of process:\n{out}")
    logit = float(found[0])
    json.dump({"logit": logit}, open(cache, "w"))
    return logit


def cases(binary, kind, seeds, work):
    """Case folders for seeds A:B, made once (make_cases.py skips nothing, so only missing ones)."""
    first, last = (int(v) for v in seeds.split(":"))
    folders = [os.path.join(work, f"{kind}-{seed:05d}") for seed in range(first, last)]
    missing = [seed for seed, f in zip(range(first, last), folders) if not os.path.isdir(os.path.join(f, "dicom"))]
    if missing:
        run([sys.executable, os.path.join(HERE, "make_cases.py"), "--binary", binary, "--kind", kind, "--out", work,
             "--seeds", f"{min(missing)}:{max(missing) + 1}", "--keep-dicom"])  # fmt: skip
    return folders


def logits_and_truths(a, name, seeds):
    z, y = [], []
    for case in cases(a.binary, a.kind, seeds, a.work):
        z.append(case_logit(a.binary, a.model, name, case))
        y.append(1 if json.load(open(os.path.join(case, "truth.json")))["lesion"] else 0)
    return np.array(z), np.array(y)


def diagram(path, panels, bins, title):
    """Reliability diagrams side by side: per bin the fraction positive against the mean
    probability, the diagonal for perfect calibration, and the number of cases per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 5.6), height_ratios=[3, 1], squeeze=False)
    edges = np.linspace(0, 1, bins + 1)
    for column, (label, p, y) in enumerate(panels):
        p, y = np.asarray(p), np.asarray(y, dtype=np.float64)
        index = np.minimum((p * bins).astype(int), bins - 1)
        counts = np.array([(index == b).sum() for b in range(bins)])
        observed = np.array([y[index == b].mean() if counts[b] else np.nan for b in range(bins)])
        mean_p = np.array([p[index == b].mean() if counts[b] else np.nan for b in range(bins)])
        top, bottom = axes[0][column], axes[1][column]
        top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
        top.bar(edges[:-1], np.nan_to_num(observed), width=1 / bins, align="edge", color="#4878a8",
                edgecolor="white", label="fraction positive")  # fmt: skip
        top.plot(mean_p, observed, "o", color="#c84030", markersize=4, label="mean probability in bin")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.set_title(f"{label}: ECE {ece(p, y, bins):.3f}", fontsize=10)
        top.set_ylabel("fraction of cases with a lesion")
        top.legend(loc="upper left", fontsize=7)
        bottom.bar(edges[:-1], counts, width=1 / bins, align="edge", color="0.5", edgecolor="white")
        bottom.set_xlim(0, 1)
        bottom.set_xlabel("reported probability of a lesion")
        bottom.set_ylabel("cases")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", required=True, help="mambanode")
    p.add_argument("--model", required=True, help="classification package folder")
    p.add_argument("--kind", required=True, choices=["ct", "mr-mni152", "mr-colin27"])
    p.add_argument("--fit-seeds", required=True, help="A:B, the cases T is fitted on")
    p.add_argument("--test-seeds", required=True, help="A:B, fresh cases the figures are measured on")
    p.add_argument("--work", required=True, help="folder for the cases (kept: logits are cached there)")
    p.add_argument("--bins", type=int, default=10)
    p.add_argument("--write", action="store_true", help="store the calibration in model.json")
    p.add_argument("--diagram", help="PNG of the reliability diagrams (test set, before and after)")
    a = p.parse_args(argv)
    manifest_path = os.path.join(a.model, "model.json")
    manifest = json.load(open(manifest_path))
    if manifest.get("task") != "classification":
        raise SystemExit(f"calibrate.py: {manifest_path}: task is {manifest.get('task')!r}, not classification")
    classification = manifest["classification"]
    name = manifest["name"]
    fs, fe = (int(v) for v in a.fit_seeds.split(":"))
    ts, te = (int(v) for v in a.test_seeds.split(":"))
    if max(fs, ts) < min(fe, te):
        raise SystemExit("calibrate.py: the fit and test seeds overlap; the test set must be fresh")
    os.makedirs(a.work, exist_ok=True)

    fit_z, fit_y = logits_and_truths(a, name, a.fit_seeds)
    test_z, test_y = logits_and_truths(a, name, a.test_seeds)
    temperature = fit_temperature(fit_z, fit_y)
    calibration = {
        "method": "temperature",
        "temperature": round(temperature, 6),
        "fitted_on": f"{len(fit_z)} {a.kind} cases, seeds {fs}–{fe - 1} (Tools/calibrate.py)",
    }
    threshold = classification["threshold"]
    before_p = probabilities(test_z, classification.get("calibration"))
    after_p = probabilities(test_z, calibration)
    before = figures(before_p, test_y, threshold, a.bins)
    after = figures(after_p, test_y, threshold, a.bins)
    print(f"fit: {len(fit_z)} cases ({int(fit_y.sum())} positive), seeds {a.fit_seeds}: T = {temperature:.4f}")
    print(f"test: {len(test_z)} cases ({int(test_y.sum())} positive), seeds {a.test_seeds}, {a.bins} bins")
    for label, f in (("before", before), ("after", after)):
        print(
            f"  {label:6}: ECE {f['ece']:.4f}, AUC {f['auc']:.4f}, accuracy at {threshold} {f['accuracy']:.3f}, "
            f"Brier {f['brier']:.4f}, log-loss {f['log_loss']:.4f}"
        )
    result = {"calibration": calibration, "test_seeds": a.test_seeds, "bins": a.bins, "before": before, "after": after}
    print(json.dumps(result, sort_keys=True))
    if a.diagram:
        diagram(
            a.diagram,
            [("before", before_p, test_y), (f"after (T = {temperature:.2f})", after_p, test_y)],
            a.bins,
            f"{name}: {len(test_z)} held-out {a.kind} cases, seeds {ts}–{te - 1}",
        )
        print(f"wrote {a.diagram}")
    if a.write:
        classification["calibration"] = calibration
        raw = open(manifest_path).read()
        text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + ("\n" if raw.endswith("\n") else "")
        open(manifest_path, "w").write(text)
        print(f"wrote classification.calibration into {manifest_path}")


if __name__ == "__main__":
    main()
