#!/usr/bin/env python3
"""Evaluates a sample model end to end, as a site would see it.

    .venv/bin/python Samples/models/evaluate.py --binary PATH/mambanode --model Samples/models/ct-organs \
        --kind ct --seeds 5000:5010 [--min-dice 0.9] [--max-mre 2] [--min-auc 0.95] [--work DIR]

Held-out cases are made through DICOM by Tools/make_cases.py (the generator's seeds given here are
never used for training: training uses 1000…1999 and Colin27, see the model cards), every case is run
through `mambanode process`, and the figures are read back from the SEG and SR files that it wrote
(highdicom and pydicom), never from engine internals:
- segmentation: each SEG frame's pixels are placed in world coordinates (Plane Position, orientation,
  spacing) onto the ground-truth grid, and Dice is computed per label;
- landmarks: the SR's SCOORD3D points against the generator's analytic positions (radial error, mm);
- classification: the SR's probability against the truth; ROC AUC and the expected calibration error
  (Tools/calibrate.py) over all cases.
Prints one line per case and a summary; exits 1 when a given threshold is missed.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TCP_NODELAY="1"))
    if r.returncode != 0:
        sys.exit(f"evaluate.py: {' '.join(cmd)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def results(folder):
    """(SEG path or None, SR path or None) written by `mambanode process` under folder."""
    seg = sr = None
    for path in glob.glob(os.path.join(folder, "**", "*.dcm"), recursive=True):
        modality = pydicom.dcmread(path, stop_before_pixels=True).Modality
        if modality == "SEG":
            seg = path
        elif modality == "SR":
            sr = path
    return seg, sr


def seg_on_truth_grid(seg_path, labels_by_name, truth_img):
    """The SEG's segments as a label map on the truth NIfTI's grid, placed by world coordinates."""
    seg = hd.seg.segread(seg_path)
    shape = truth_img.shape[:3]
    to_voxel = np.linalg.inv(truth_img.affine)
    out = np.zeros(shape, dtype=np.int16)
    number_to_value = {}
    for item in seg.SegmentSequence:
        number_to_value[int(item.SegmentNumber)] = labels_by_name[item.SegmentLabel]
    shared = seg.SharedFunctionalGroupsSequence[0]
    orientation = np.array([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient])
    row_dir, col_dir = orientation[:3], orientation[3:]
    spacing = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]  # (between rows, between columns)
    rows, cols = int(seg.Rows), int(seg.Columns)
    pixels = seg.pixel_array.reshape(-1, rows, cols)
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    for f, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        mask = pixels[f] != 0
        if not mask.any():
            continue
        origin = np.array([float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient])
        # PS3.3 C.7.6.2.1.1: column index steps along the row direction by the column spacing.
        world = origin + c[mask, None] * spacing[1] * row_dir + r[mask, None] * spacing[0] * col_dir
        ras = world @ LPS_TO_RAS.T
        ijk = np.rint(ras @ to_voxel[:3, :3].T + to_voxel[:3, 3]).astype(int)
        inside = np.all((ijk >= 0) & (ijk < np.array(shape)), axis=1)
        ijk = ijk[inside]
        out[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = number_to_value[number]
    return out


def dice(a, b):
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(a, b).sum() / total


def sr_landmarks_and_probability(sr_path):
    sr = hd.sr.srread(sr_path)
    report = sr.content
    points, probability = {}, None
    for group in report.get_image_measurement_groups():
        name = str(group.tracking_identifier)
        for item in group[0].ContentSequence:
            if item.value_type == hd.sr.ValueTypeValues.SCOORD3D:
                points[name] = np.array(item.value, dtype=float).ravel()
        for m in group.get_measurements():
            if m.name.value == "122157":  # Probability
                probability = float(m.value)
    return points, probability


def auc(scores, truths):
    positives = [s for s, t in zip(scores, truths) if t]
    negatives = [s for s, t in zip(scores, truths) if not t]
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--kind", required=True, choices=["ct", "mr-mni152", "mr-colin27"])
    p.add_argument("--seeds", required=True, help="A:B")
    p.add_argument("--lesion", default="random", choices=["yes", "no", "random"])
    p.add_argument("--work", help="folder for the cases (default: a temporary one, removed)")
    p.add_argument("--min-dice", type=float)
    p.add_argument("--max-mre", type=float)
    p.add_argument("--min-auc", type=float)
    p.add_argument("--threads", type=int)
    a = p.parse_args()
    manifest = json.load(open(os.path.join(a.model, "model.json")))
    work = a.work or tempfile.mkdtemp(prefix="mambanode-evaluate-")
    run(
        [
            sys.executable,
            os.path.join(ROOT, "Tools", "make_cases.py"),
            "--binary",
            a.binary,
            "--kind",
            a.kind,
            "--out",
            work,
            "--seeds",
            a.seeds,
            "--lesion",
            a.lesion,
            "--keep-dicom",
        ]
    )
    first, last = (int(v) for v in a.seeds.split(":"))
    cases = [os.path.join(work, f"{a.kind}-{seed:05d}") for seed in range(first, last)]
    task = manifest["task"]
    per_label, errors, scores, truths = {}, [], [], []
    for case in cases:
        out = os.path.join(case, "results")
        if not os.path.isdir(out):
            cmd = [a.binary, "process", "--model", a.model, "--input", os.path.join(case, "dicom"), "--output", out]
            run(cmd)
        seg, sr = results(out)
        truth = json.load(open(os.path.join(case, "truth.json")))
        name = os.path.basename(case)
        if task == "segmentation":
            truth_img = nib.load(os.path.join(case, "labels.nii.gz"))
            expected = np.asarray(truth_img.dataobj).astype(np.int16)
            labels_by_name = {l["name"]: l["value"] for l in manifest["labels"]}
            got = seg_on_truth_grid(seg, labels_by_name, truth_img)
            line = []
            for label in manifest["labels"]:
                # A model's label value names the generator's label of the same name.
                truth_value = (
                    int(next(k for k, v in truth["labels"].items() if v == label["name"]))
                    if label["name"] in truth["labels"].values()
                    else label["value"]
                )
                d = dice(got == label["value"], expected == truth_value)
                per_label.setdefault(label["name"], []).append(d)
                line.append(f"{label['name']} {d:.3f}")
            print(f"{name}: Dice " + ", ".join(line), flush=True)
        elif task == "landmarks":
            points, _ = sr_landmarks_and_probability(sr)
            case_errors = []
            for landmark in manifest["landmarks"]:
                e = float(np.linalg.norm(points[landmark["name"]] - np.array(truth["landmarks"][landmark["name"]])))
                case_errors.append(e)
                per_label.setdefault(landmark["name"], []).append(e)
            errors.extend(case_errors)
            print(f"{name}: radial errors (mm) " + ", ".join(f"{e:.2f}" for e in case_errors), flush=True)
        else:
            _, probability = sr_landmarks_and_probability(sr)
            scores.append(probability)
            truths.append(bool(truth["lesion"]))
            print(f"{name}: probability {probability:.4f}, lesion {truth['lesion']}", flush=True)
    failed = False
    if task == "segmentation":
        means = {k: float(np.mean(v)) for k, v in per_label.items()}
        overall = float(np.mean(list(means.values())))
        print(
            f"SUMMARY {manifest['name']}: {len(cases)} cases, mean Dice {overall:.4f} ("
            + ", ".join(f"{k} {v:.4f}" for k, v in means.items())
            + ")"
        )
        if a.min_dice is not None and overall < a.min_dice:
            print(f"FAIL mean Dice {overall:.4f} < {a.min_dice}")
            failed = True
    elif task == "landmarks":
        mre = float(np.mean(errors))
        print(
            f"SUMMARY {manifest['name']}: {len(cases)} cases, mean radial error {mre:.3f} mm ("
            + ", ".join(f"{k} {np.mean(v):.2f}" for k, v in per_label.items())
            + ")"
        )
        if a.max_mre is not None and mre > a.max_mre:
            print(f"FAIL mean radial error {mre:.3f} mm > {a.max_mre}")
            failed = True
    else:
        value = auc(scores, truths)
        accuracy = np.mean([(s >= manifest["classification"]["threshold"]) == t for s, t in zip(scores, truths)])
        sys.path.insert(0, os.path.join(ROOT, "Tools"))
        from calibrate import ece

        calibration = manifest["classification"].get("calibration")
        print(
            f"SUMMARY {manifest['name']}: {len(cases)} cases ({sum(truths)} with lesion), AUC {value:.4f}, "
            f"accuracy at the threshold {accuracy:.3f}, expected calibration error {ece(scores, truths, 10):.4f} "
            f"(10 bins; {'temperature %g' % calibration['temperature'] if calibration else 'uncalibrated'})"
        )
        if a.min_auc is not None and not value >= a.min_auc:
            print(f"FAIL AUC {value:.4f} < {a.min_auc}")
            failed = True
    if not a.work:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
