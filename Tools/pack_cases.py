#!/usr/bin/env python3
"""Prepares case folders as train.py would and writes them to one pack (nnmamba/casepack.py),
for training on a machine without the NIfTI files (a GPU host, say):

    pack_cases.py --spec SPEC.json --cases DIR [DIR ...] --out FILE [--crop-to-nonzero]

train.py then takes `--cases FILE`. Several folders are packed in order, each case named
`<folder>/<case>` so names stay unique.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nnmamba.casepack import write_pack  # noqa: E402
from train import load_cases  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", required=True)
    p.add_argument("--cases", required=True, nargs="+", help="case folders (as train.py's --cases)")
    p.add_argument("--out", required=True)
    p.add_argument("--truth-key", default="lesion")
    p.add_argument("--crop-to-nonzero", action="store_true")
    a = p.parse_args(argv)
    with open(a.spec) as f:
        spec = json.load(f)
    start, cases = time.time(), []
    for root in a.cases:
        prefix = os.path.basename(os.path.normpath(root))
        cases += [
            (t, truth, f"{prefix}/{name}") for t, truth, name in load_cases(root, spec, a.truth_key, a.crop_to_nonzero)
        ]
    write_pack(a.out, cases, spec, a.crop_to_nonzero, a.truth_key)
    raw = sum(t.size for t, _, _ in cases)
    print(
        f"{len(cases)} cases packed in {time.time() - start:.0f} s: {os.path.getsize(a.out) / 1e6:.1f} MB "
        f"({os.path.getsize(a.out) / raw:.2f} byte per voxel); positives "
        f"{int(np.sum([np.ravel(t)[0] == 1 for _, t, _ in cases])) if spec['task'] == 'classification' else '-'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
