#!/usr/bin/env python3
"""Independent read-back of MambaNode Secondary Capture overlays with pydicom (docs/results.md).

Usage: sc_readback.py OUT.bin SC...

Writes each image's RGB pixels (rows × columns × 3 bytes) to OUT.bin, image after image, and
prints one JSON object per image: {"rows", "columns", "position", "orientation", "spacing",
"frame_of_reference", "source", "burned_in", "photometric", "instance"} (position etc. null when
the image has no plane).
"""

import json
import sys

import numpy as np
import pydicom


def floats(ds, keyword):
    value = ds.get(keyword)
    return None if value is None else [float(v) for v in value]


def main() -> int:
    out_path, paths = sys.argv[1], sys.argv[2:]
    with open(out_path, "wb") as out:
        for path in paths:
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array.astype(np.uint8)
            out.write(np.ascontiguousarray(pixels).tobytes())
            source = ds.get("SourceImageSequence")
            print(
                json.dumps(
                    {
                        "rows": int(ds.Rows),
                        "columns": int(ds.Columns),
                        "position": floats(ds, "ImagePositionPatient"),
                        "orientation": floats(ds, "ImageOrientationPatient"),
                        "spacing": floats(ds, "PixelSpacing"),
                        "frame_of_reference": ds.get("FrameOfReferenceUID"),
                        "source": str(source[0].ReferencedSOPInstanceUID) if source else None,
                        "burned_in": ds.get("BurnedInAnnotation"),
                        "photometric": ds.PhotometricInterpretation,
                        "instance": int(ds.InstanceNumber),
                    }
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
