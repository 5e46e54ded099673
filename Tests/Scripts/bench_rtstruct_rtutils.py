#!/usr/bin/env python3
"""The reference half of `mambanode bench outputs`: the same RT Structure Set built with rt-utils.

Usage: bench_rtstruct_rtutils.py JOB.json
JOB: {"label_map": raw uint8 file, "shape": [slices, rows, cols], "source_dir": folder,
      "sources": [SOP Instance UIDs in the label map's slice order], "rois": [[value, name], ...],
      "output": path}
Loads the series first (not timed: MambaNode has it in memory), then times what
`mambanode bench outputs` times for MambaNode: from the label map to the file on disk (one
add_roi per label and save), and prints {"seconds": s, "load_seconds": s, "bytes": n} as JSON.
"""

import json
import os
import sys
import time

import numpy as np
from rt_utils import RTStructBuilder


def main() -> int:
    job = json.load(open(sys.argv[1]))
    labels = np.fromfile(job["label_map"], dtype=np.uint8).reshape(job["shape"])
    start = time.perf_counter()
    rt = RTStructBuilder.create_new(dicom_series_path=job["source_dir"])
    loaded = time.perf_counter() - start
    # rt-utils masks are [row, column, slice] in its own slice order.
    index = {uid: k for k, uid in enumerate(job["sources"])}
    order = [index[str(ds.SOPInstanceUID)] for ds in rt.series_data]
    start = time.perf_counter()
    for value, name in job["rois"]:
        mask = np.transpose(labels[order] == value, (1, 2, 0))
        if mask.any():
            rt.add_roi(mask=mask, name=name)
    rt.save(job["output"])
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "load_seconds": loaded, "bytes": os.path.getsize(job["output"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
