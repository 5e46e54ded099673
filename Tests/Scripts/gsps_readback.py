#!/usr/bin/env python3
"""Independent read-back of a MambaNode presentation state with pydicom (docs/results.md).

Usage: gsps_readback.py GSPS SOURCE_DIR OUT.bin

Reads the Graphic Annotation Sequence as a viewer does: each item's Referenced Image Sequence
names the image, its Graphic Layer the layer, and each closed POLYLINE in PIXEL units is filled
with the even-odd rule at pixel centres (column + 0.5, row + 0.5). Writes one mask per layer
that has polylines (Graphic Layer Order) and per source image (in the order of the printed
"slices"), row by row, as bytes 0/1 to OUT.bin. Prints JSON: {"layers": [names], "slices": [SOP
Instance UIDs], "rows": R, "columns": C, "colors": [[r, g, b] per layer], "window": [centre,
width], "points": number of POINT graphics, "texts": number of text objects}.
"""

import json
import os
import sys

import numpy as np
import pydicom


def fill(polylines, rows, columns):
    """Even-odd fill of closed polylines at pixel centres."""
    y, x = np.mgrid[0:rows, 0:columns] + 0.5
    inside = np.zeros((rows, columns), dtype=bool)
    for points in polylines:
        for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
            if y0 == y1:
                continue
            crosses = (y0 > y) != (y1 > y)
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            inside ^= crosses & (x < at)
    return inside


def main() -> int:
    gsps_path, source_dir, out_path = sys.argv[1:4]
    ps = pydicom.dcmread(gsps_path)
    sources = []
    for root, _, files in os.walk(source_dir):
        for name in files:
            ds = pydicom.dcmread(os.path.join(root, name), stop_before_pixels=True)
            sources.append(ds)
    uids = [str(ds.SOPInstanceUID) for ds in sources]
    rows, columns = int(sources[0].Rows), int(sources[0].Columns)
    layers = sorted(ps.GraphicLayerSequence, key=lambda item: int(item.GraphicLayerOrder))
    polylines = {}  # (layer, uid) -> [points]
    points = texts = 0
    for item in ps.GraphicAnnotationSequence:
        image = str(item.ReferencedImageSequence[0].ReferencedSOPInstanceUID)
        for graphic in getattr(item, "GraphicObjectSequence", []):
            if graphic.GraphicAnnotationUnits != "PIXEL":
                print(f"graphic in {graphic.GraphicAnnotationUnits} units", file=sys.stderr)
                return 1
            data = np.array(graphic.GraphicData, dtype=float).reshape(-1, 2)
            if graphic.GraphicType == "POINT":
                points += 1
            elif graphic.GraphicType == "POLYLINE" and len(data) > 2:
                if not np.array_equal(data[0], data[-1]):
                    print("open polyline outline", file=sys.stderr)
                    return 1
                polylines.setdefault((item.GraphicLayer, image), []).append(data)
        texts += len(getattr(item, "TextObjectSequence", []))
    names = [str(layer.GraphicLayer) for layer in layers if any(k[0] == layer.GraphicLayer for k in polylines)]
    with open(out_path, "wb") as out:
        for name in names:
            for uid in uids:
                mask = fill(polylines.get((name, uid), []), rows, columns)
                out.write(mask.astype(np.uint8).tobytes())
    voi = ps.SoftcopyVOILUTSequence[0]
    print(
        json.dumps(
            {
                "layers": names,
                "slices": uids,
                "rows": rows,
                "columns": columns,
                "colors": [
                    [int(v) for v in layer.GraphicLayerRecommendedDisplayRGBValue]
                    for layer in layers
                    if str(layer.GraphicLayer) in names
                ],
                "window": [float(voi.WindowCenter), float(voi.WindowWidth)],
                "points": points,
                "texts": texts,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
