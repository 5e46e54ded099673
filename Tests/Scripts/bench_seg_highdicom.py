#!/usr/bin/env python3
"""The reference half of `mambanode bench seg`: the same BINARY SEG written with highdicom.

Usage: bench_seg_highdicom.py JOB.json
JOB: {"label_map": raw uint8 file, "shape": [slices, rows, cols], "sources": [paths in slice order],
      "segments": [label, ...], "output": path}
Times only the SEG construction and writing (sources read beforehand, headers only), the part
`mambanode bench seg` times for MambaNode, and prints {"seconds": s, "bytes": n} as JSON.
"""

import json
import os
import sys
import time

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes


def main() -> int:
    job = json.load(open(sys.argv[1]))
    labels = np.fromfile(job["label_map"], dtype=np.uint8).reshape(job["shape"])
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in job["sources"]]
    algorithm = hd.AlgorithmIdentificationSequence(
        name="nnMamba bench", version="0.1", family=codes.cid7162.ArtificialIntelligence
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=label,
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=codes.SCT.Organ,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for n, label in enumerate(job["segments"], start=1)
    ]
    start = time.perf_counter()
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=labels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=901,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="MambaNode",
        manufacturer_model_name="bench",
        software_versions="0.1",
        device_serial_number="bench",
        omit_empty_frames=True,
    )
    seg.save_as(job["output"])
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "bytes": os.path.getsize(job["output"]), "frames": int(seg.NumberOfFrames)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
