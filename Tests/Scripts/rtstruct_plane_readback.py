#!/usr/bin/env python3
"""Read-back of a MambaNode RT Structure Set by the standard's geometry alone (pydicom, numpy).

Usage: rtstruct_plane_readback.py RTSTRUCT SOURCE_DIR OUT.bin

For each contour, the image its Contour Image Sequence references is looked up in the source
folder; the contour's points are mapped into that image's pixel grid with the image's own Image
Position, Image Orientation and Pixel Spacing (row spacing first, PS3.3 C.7.6.2.1.1), and filled
with the even-odd rule at pixel centres, the contours of an ROI on one image together (holes are
nested contours, PS3.3 C.8.8.6.3). This is what rt-utils does, without its assumption of square
pixels (rt-utils issue 92). Output as rtstruct_readback.py, plus "max_plane_distance": the largest
distance in mm of a contour point from the plane of the image it references.
"""

import json
import os
import sys

import numpy as np
import pydicom


def fill(polygons, rows, columns):
    y, x = np.mgrid[0:rows, 0:columns].astype(float)
    inside = np.zeros((rows, columns), dtype=bool)
    for points in polygons:
        closed = np.vstack([points, points[:1]])
        for (x0, y0), (x1, y1) in zip(closed[:-1], closed[1:]):
            if y0 == y1:
                continue
            crosses = (y0 > y) != (y1 > y)
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            inside ^= crosses & (x < at)
    return inside


def main() -> int:
    rtstruct_path, source_dir, out_path = sys.argv[1:4]
    rt = pydicom.dcmread(rtstruct_path)
    images = {}
    for root, _, files in os.walk(source_dir):
        for name in files:
            ds = pydicom.dcmread(os.path.join(root, name), stop_before_pixels=True)
            images[str(ds.SOPInstanceUID)] = ds
    uids = sorted(images)
    first = images[uids[0]]
    rows, columns = int(first.Rows), int(first.Columns)
    names = {int(item.ROINumber): str(item.ROIName) for item in rt.StructureSetROISequence}
    order, masks, worst = [], [], 0.0
    for roi in rt.ROIContourSequence:
        number = int(roi.ReferencedROINumber)
        polygons = {}
        for contour in roi.ContourSequence:
            uid = str(contour.ContourImageSequence[0].ReferencedSOPInstanceUID)
            image = images[uid]
            origin = np.array(image.ImagePositionPatient, dtype=float)
            row_dir, column_dir = np.array(image.ImageOrientationPatient, dtype=float).reshape(2, 3)
            row_spacing, column_spacing = (float(v) for v in image.PixelSpacing)
            points = np.array(contour.ContourData, dtype=float).reshape(-1, 3) - origin
            worst = max(worst, float(np.abs(points @ np.cross(row_dir, column_dir)).max()))
            # Column index along the row direction (column spacing), row index along the column direction.
            pixel = np.stack([points @ row_dir / column_spacing, points @ column_dir / row_spacing], axis=1)
            polygons.setdefault(uid, []).append(pixel)
        order.append(names[number])
        masks.append(np.stack([fill(polygons.get(uid, []), rows, columns) for uid in uids]))
    with open(out_path, "wb") as out:
        for mask in masks:
            out.write(mask.astype(np.uint8).tobytes())
    print(json.dumps({"rois": order, "slices": uids, "rows": rows, "columns": columns, "max_plane_distance": worst}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
