"""Checks of the views a destination may ask for besides SEG and SR (docs/results.md, Outputs per
destination): the RT Structure Set read back by the standard's geometry, the presentation state
(dcmpschk, dcmp2pgm, its outlines filled), the Secondary Capture overlays (plane and outline
colours) and the Key Object Selection (dsrdump, every reference resolves). Each compares with
the label map the model gives for the same series (`Expected`), looked up at each source
image's pixel centres in patient coordinates."""

import numpy as np
import pydicom

from .peers import run

RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
KEY_OBJECTS = "1.2.840.10008.5.1.4.1.1.88.59"
# The modalities a destination taking every output receives.
ALL_OUTPUTS = {"SEG", "SR", "RTSTRUCT", "PR", "OT", "KO"}


def fill(polygons, rows, columns, centre=0.5):
    """Even-odd fill of closed polygons ((column, row) points) at pixel centres (index + centre)."""
    y, x = np.mgrid[0:rows, 0:columns] + centre
    inside = np.zeros((rows, columns), dtype=bool)
    for points in polygons:
        closed = np.vstack([points, points[:1]])
        for (x0, y0), (x1, y1) in zip(closed[:-1], closed[1:]):
            if y0 == y1:
                continue
            crosses = (y0 > y) != (y1 > y)
            inside ^= crosses & (x < x0 + (y - y0) * (x1 - x0) / (y1 - y0))
    return inside


def plane(ds):
    origin = np.array(ds.ImagePositionPatient, dtype=float)
    row_dir, column_dir = np.array(ds.ImageOrientationPatient, dtype=float).reshape(2, 3)
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    return origin, row_dir, column_dir, row_spacing, column_spacing


def dice(a, b):
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


class ViewValidator:
    def __init__(self, validator):
        self.v = validator
        self.sources = {}
        for path in validator.sources:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            self.sources[str(ds.SOPInstanceUID)] = ds
        self.by_class = {}
        for path, ds in validator.datasets.items():
            self.by_class.setdefault(str(ds.SOPClassUID), []).append((path, ds))
        self.values = {name.lower(): value for value, name in validator.expected.names.items()}
        self.colors = {
            int(label["value"]): label.get("color", [255, 0, 0]) for label in validator.expected.manifest["labels"]
        }

    def expected_slice(self, uid):
        """The model's labels at the pixel centres of source image `uid` (rows × columns)."""
        ds = self.sources[uid]
        origin, row_dir, column_dir, dr, dc = plane(ds)
        rows, columns = int(ds.Rows), int(ds.Columns)
        r, c = np.mgrid[0:rows, 0:columns]
        world = origin + (c.reshape(-1, 1) * dc) * row_dir + (r.reshape(-1, 1) * dr) * column_dir
        index = np.rint(self.v.expected.world_to_index(world)).astype(int)
        labels = self.v.expected.labels
        inside = np.all((index >= 0) & (index < np.array(labels.shape)), axis=1)
        out = np.zeros(rows * columns, dtype=np.int32)
        out[inside] = labels[tuple(index[inside].T)]
        return out.reshape(rows, columns)

    def all(self):
        self.v.guarded("RT Structure Set read back by the standard's geometry: Dice ≥ 0.95 per ROI", self.rtstruct)
        self.v.guarded("presentation state accepted by dcmpschk and rendered by dcmp2pgm", self.gsps_renders)
        self.v.guarded("presentation state outlines filled: Dice ≥ 0.90 per layer", self.gsps_outlines)
        self.v.guarded("Secondary Capture overlays on their source planes, outlines in the segment colours", self.sc)
        self.v.guarded("Key Object Selection read by dsrdump, every reference delivered or a source", self.ko)

    def rtstruct(self):
        [(path, ds)] = self.by_class[RT_STRUCTURE_SET]
        names = {int(item.ROINumber): str(item.ROIName) for item in ds.StructureSetROISequence}
        problems, worst = [], 0.0
        for roi in ds.ROIContourSequence:
            name = names[int(roi.ReferencedROINumber)]
            value = self.values[name.lower()]
            polygons = {}
            for contour in roi.ContourSequence:
                uid = str(contour.ContourImageSequence[0].ReferencedSOPInstanceUID)
                origin, row_dir, column_dir, dr, dc = plane(self.sources[uid])
                points = np.array(contour.ContourData, dtype=float).reshape(-1, 3) - origin
                worst = max(worst, float(np.abs(points @ np.cross(row_dir, column_dir)).max()))
                polygons.setdefault(uid, []).append(np.stack([points @ row_dir / dc, points @ column_dir / dr], axis=1))
            got = np.stack([fill(polygons.get(u, []), int(s.Rows), int(s.Columns), 0) for u, s in self.sources.items()])
            want = np.stack([self.expected_slice(u) == value for u in self.sources])
            score = dice(got, want)
            if score < 0.95:
                problems.append(f"{name}: Dice {score:.3f}")
        if worst > 0.01:
            problems.append(f"a contour lies {worst:.4f} mm off its image's plane")
        return not problems, "; ".join(problems) or f"plane distance ≤ {worst:.5f} mm"

    def gsps_renders(self):
        [(path, ds)] = self.by_class[GSPS]
        r = run(["dcmpschk", path])
        if r.returncode != 0:
            return False, "dcmpschk: " + (r.stdout + r.stderr)[-300:]
        for index, source in enumerate(self.v.sources):
            r = run(["dcmp2pgm", "-p", path, source, f"{self.v.work}/gsps-{index}.pgm"])
            if r.returncode != 0:
                return False, f"dcmp2pgm on {source}: {(r.stdout + r.stderr)[-300:]}"
        return True, ""

    def gsps_outlines(self):
        [(path, ds)] = self.by_class[GSPS]
        layer_names = {
            str(item.GraphicLayer): str(item.get("GraphicLayerDescription", "")) for item in ds.GraphicLayerSequence
        }
        polygons = {}
        for item in ds.GraphicAnnotationSequence:
            uid = str(item.ReferencedImageSequence[0].ReferencedSOPInstanceUID)
            for graphic in item.get("GraphicObjectSequence", []):
                data = np.array(graphic.GraphicData, dtype=float).reshape(-1, 2)
                if graphic.GraphicType == "POLYLINE" and len(data) > 2 and np.array_equal(data[0], data[-1]):
                    polygons.setdefault((str(item.GraphicLayer), uid), []).append(data[:-1])
        problems, layers = [], {layer for layer, _ in polygons}
        for layer in layers:
            value = self.values.get(layer_names[layer].lower())
            if value is None:
                problems.append(f"layer {layer} names no label of the model")
                continue
            got = np.stack(
                [fill(polygons.get((layer, u), []), int(s.Rows), int(s.Columns)) for u, s in self.sources.items()]
            )
            want = np.stack([self.expected_slice(u) == value for u in self.sources])
            score = dice(got, want)
            if score < 0.90:
                problems.append(f"{layer}: Dice {score:.3f}")
        present = {v for v in np.unique(self.v.expected.labels) if v}
        if {self.values.get(layer_names[layer].lower()) for layer in layers} != present:
            problems.append(f"layers {sorted(layers)} for labels {sorted(present)}")
        return not problems, "; ".join(problems)

    def sc(self):
        problems, checked, in_colour, seen, shown = [], 0, 0, set(), set()
        for path, ds in self.by_class[SECONDARY_CAPTURE]:
            if "SourceImageSequence" not in ds:
                continue  # the summary page
            uid = str(ds.SourceImageSequence[0].ReferencedSOPInstanceUID)
            source = self.sources[uid]
            for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
                if not np.allclose(
                    np.array(ds[keyword].value, float), np.array(source[keyword].value, float), atol=1e-4
                ):
                    problems.append(f"{keyword} of the overlay of {uid[-8:]} is not the source's")
            if ds.FrameOfReferenceUID != source.FrameOfReferenceUID or ds.BurnedInAnnotation != "YES":
                problems.append(f"overlay of {uid[-8:]}: Frame of Reference or Burned In Annotation")
            labels, pixels = self.expected_slice(uid), ds.pixel_array
            padded = np.pad(labels, 1, constant_values=-1)
            outline = (labels != 0) & (
                (padded[:-2, 1:-1] != labels)
                | (padded[2:, 1:-1] != labels)
                | (padded[1:-1, :-2] != labels)
                | (padded[1:-1, 2:] != labels)
            )
            values = labels[outline]
            colours = np.array([self.colors.get(int(v), [255, 0, 0]) for v in values], dtype=np.uint8).reshape(-1, 3)
            coloured = np.all(pixels[outline] == colours, axis=1)
            checked += int(outline.sum())
            in_colour += int(coloured.sum())
            seen |= {int(v) for v in values}
            shown |= {int(v) for v in values[coloured]}
        # The caution line and the legend cover the top and bottom rows (on these small series a
        # good part of each image); the rest of every outline must carry its segment's colour.
        fraction = in_colour / max(1, checked)
        if fraction < 0.5:
            problems.append(f"{fraction:.2f} of {checked} outline pixels in the segment colour")
        if shown != seen:
            problems.append(f"labels {sorted(seen - shown)} never drawn in their colour")
        return not problems and checked > 0, "; ".join(problems[:4]) or f"{fraction:.2f} of {checked} outline pixels"

    def ko(self):
        [(path, ds)] = self.by_class[KEY_OBJECTS]
        r = run(["dsrdump", path])
        if r.returncode != 0 or "Of Interest" not in r.stdout:
            return False, "dsrdump: " + (r.stdout + r.stderr)[-300:]
        known = set(self.sources) | {str(d.SOPInstanceUID) for d in self.v.datasets.values()}
        listed = [
            str(instance.ReferencedSOPInstanceUID)
            for study in ds.CurrentRequestedProcedureEvidenceSequence
            for series in study.ReferencedSeriesSequence
            for instance in series.ReferencedSOPSequence
        ]
        unknown = [uid for uid in listed if uid not in known]
        return not unknown and listed, f"{len(unknown)} of {len(listed)} references unknown"
