#!/usr/bin/env python3
"""Independent read-back of a MambaNode RT Structure Set with rt-utils (docs/results.md).

Usage: rtstruct_readback.py RTSTRUCT SOURCE_DIR OUT.bin

rt-utils loads the source series (sorted by slice position), finds each contour's slice by its
Referenced SOP Instance UID and fills the contours with OpenCV, as radiotherapy research code
does. Writes every ROI's mask to OUT.bin as bytes (0/1): ROI by ROI in the file's order, then
slice by slice in rt-utils' order, then row by row. Prints JSON: {"rois": [names],
"slices": [SOP Instance UIDs in that order], "rows": R, "columns": C}.
"""

import json
import sys

import numpy as np
from rt_utils import RTStructBuilder


def main() -> int:
    rtstruct_path, source_dir, out_path = sys.argv[1:4]
    rt = RTStructBuilder.create_from(dicom_series_path=source_dir, rt_struct_path=rtstruct_path)
    names = rt.get_roi_names()
    slices = [str(ds.SOPInstanceUID) for ds in rt.series_data]
    rows, columns = int(rt.series_data[0].Rows), int(rt.series_data[0].Columns)
    with open(out_path, "wb") as out:
        for name in names:
            mask = rt.get_roi_mask_by_name(name)  # [columns?, rows?, slices] as rt-utils builds it
            # rt-utils indexes its masks [row, column, slice] after transposing OpenCV's output.
            if mask.shape != (rows, columns, len(slices)):
                print(f"unexpected mask shape {mask.shape} for {rows}x{columns}x{len(slices)}", file=sys.stderr)
                return 1
            out.write(np.ascontiguousarray(np.transpose(mask, (2, 0, 1))).astype(np.uint8).tobytes())
    print(json.dumps({"rois": names, "slices": slices, "rows": rows, "columns": columns}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
