#!/usr/bin/env python3
"""Makes training or evaluation case folders for Tools/train.py with MambaNode's own generator.

    make_cases.py --binary PATH/mambanode --kind ct|mr-colin27|mr-mni152 --out DIR --seeds A:B

Each case goes through DICOM exactly as a site's would: `mambanode samples …` writes the series,
`mambanode volume` assembles it into NIfTI (the node's own reconstruction), and the generator's
ground truth (label map on the same grid, truth JSON with landmarks and lesion) sits beside it.
Case folder: `<input>.nii.gz` (input name `ct` or `t1`), `labels.nii.gz`, `truth.json`, and
with --keep-dicom the series itself under `dicom/` (for evaluation through `mambanode process`).

Seeds are the split: training uses seeds no evaluation ever uses (see the model cards).
"""

import argparse
import os
import shutil
import subprocess
import sys


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"make_cases.py: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")


# MR variants of the one real brain (Colin27): slice plane, obliquity, resolution and noise
# differ per seed, and a third of the cases show the skull-stripped brain (ch2bet), as the MNI152
# template and many pipelines present it.
MR_PLANES = ["axial", "sagittal", "coronal"]


def mr_options(seed):
    plane = MR_PLANES[seed % 3]
    rotate = [0, 8, -12, 15, -5, 20][seed % 6]
    pixel = [1.8, 1.5, 2.2][(seed // 3) % 3]
    size = int(round(232 / pixel))
    spacing = [2.0, 3.0, 1.5, 4.0][(seed // 2) % 4]
    slices = int(round(200 / spacing))
    noise = [0.01, 0.03, 0.02, 0.05][(seed // 5) % 4]
    # `--name=value`: a negative angle would otherwise read as an option.
    return [
        f"--orientation={plane}",
        f"--rotate={rotate}",
        f"--pixel-spacing={pixel}",
        f"--size={size}",
        f"--spacing={spacing}",
        f"--slices={slices}",
        f"--noise={noise}",
        f"--seed={seed}",
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True)
    p.add_argument("--kind", required=True, choices=["ct", "mr-colin27", "mr-mni152"])
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", required=True, help="A:B, seeds A…B−1")
    p.add_argument("--lesion", default="random", choices=["yes", "no", "random"])
    p.add_argument("--keep-dicom", action="store_true")
    args = p.parse_args()
    first, last = (int(v) for v in args.seeds.split(":"))
    templates = "/usr/share/mricron/templates"
    for seed in range(first, last):
        case = os.path.join(args.out, f"{args.kind}-{seed:05d}")
        if os.path.exists(os.path.join(case, "truth.json")):
            continue
        os.makedirs(case, exist_ok=True)
        dicom = os.path.join(case, "dicom")
        labels, truth = os.path.join(case, "labels.nii.gz"), os.path.join(case, "truth.json.tmp")
        if args.kind == "ct":
            run(
                [
                    args.binary,
                    "samples",
                    "ct",
                    dicom,
                    "--seed",
                    str(seed),
                    "--lesion",
                    args.lesion,
                    "--labels",
                    labels,
                    "--truth",
                    truth,
                ]
            )
            name = "ct"
        elif args.kind == "mr-colin27":
            source = (
                ["--source", "colin27"]
                if seed % 3
                else ["--nifti", f"{templates}/ch2bet.nii.gz", "--mask", f"{templates}/ch2bet.nii.gz"]
            )
            run([args.binary, "samples", "mr", dicom, *source, *mr_options(seed), "--labels", labels, "--truth", truth])
            name = "t1"
        else:
            run(
                [
                    args.binary,
                    "samples",
                    "mr",
                    dicom,
                    "--source",
                    "mni152",
                    *mr_options(seed),
                    "--labels",
                    labels,
                    "--truth",
                    truth,
                ]
            )
            name = "t1"
        run([args.binary, "volume", dicom, "--nifti", os.path.join(case, f"{name}.nii.gz")])
        if not args.keep_dicom:
            shutil.rmtree(dicom)
        os.replace(truth, os.path.join(case, "truth.json"))
        print(case, flush=True)


if __name__ == "__main__":
    main()
