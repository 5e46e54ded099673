#!/usr/bin/env python3
"""Independent read-back of a MambaNode TID 1500 report with highdicom (docs/conformance.md).

Usage: sr_readback.py JOB.json

JOB: {"sr": path, "seg_uid": uid, "volumes": {tracking_uid: [segment_number, expected_mm3]},
      "classification": {"value": code_value, "probability": p},
      "landmarks": {name: [x, y, z]}, "distances": {name: expected_mm}, "frame_of_reference": uid}
Checks that highdicom parses the SR as TID 1500, that every volume group references the SEG and
segment and its volume equals the expected one within 0.1 %, and that classification, landmarks
and distances are there. Prints one line per failure and exits 1 on any.
"""

import json
import sys

import highdicom as hd
import numpy as np


def code_value(code):
    return code.value if code is not None else None


def main() -> int:
    job = json.load(open(sys.argv[1]))
    failures = []
    sr = hd.sr.srread(job["sr"])
    report = sr.content
    if not isinstance(report, hd.sr.MeasurementReport):
        print(f"FAIL: content is {type(report).__name__}, not a TID 1500 MeasurementReport")
        return 1

    seen = set()
    for group in report.get_volumetric_roi_measurement_groups():
        uid = str(group.tracking_uid)
        if uid not in job["volumes"]:
            failures.append(f"unexpected volumetric group {group.tracking_identifier}")
            continue
        seen.add(uid)
        segment_number, expected = job["volumes"][uid]
        segment = group.referenced_segment
        if segment.referenced_sop_instance_uid != job["seg_uid"]:
            failures.append(f"{group.tracking_identifier}: references {segment.referenced_sop_instance_uid}")
        if list(segment.referenced_segment_numbers) != [segment_number]:
            failures.append(
                f"{group.tracking_identifier}: segment {segment.referenced_segment_numbers} != {segment_number}"
            )
        volumes = [m for m in group.get_measurements() if m.name.value == "118565006"]
        if len(volumes) != 1:
            failures.append(f"{group.tracking_identifier}: {len(volumes)} volume measurements")
            continue
        volume = volumes[0]
        if volume.unit.value != "mm3" or volume.unit.scheme_designator != "UCUM":
            failures.append(f"{group.tracking_identifier}: unit {volume.unit}")
        if abs(volume.value - expected) > 1e-3 * max(expected, 1e-9):
            failures.append(f"{group.tracking_identifier}: volume {volume.value} != {expected} mm3")
    for missing in set(job["volumes"]) - seen:
        failures.append(f"volume group {missing} missing")

    groups = report.get_image_measurement_groups()
    by_id = {str(g.tracking_identifier): g for g in groups}
    classification = job.get("classification")
    if classification:
        found = False
        for g in groups:
            evaluations = g.get_qualitative_evaluations()
            if any(code_value(e.value) == classification["value"] for e in evaluations):
                found = True
                probabilities = [m.value for m in g.get_measurements() if m.name.value == "122157"]
                if probabilities != [classification["probability"]]:
                    failures.append(f"classification probability {probabilities} != {classification['probability']}")
        if not found:
            failures.append("classification qualitative evaluation missing")

    for name, position in job.get("landmarks", {}).items():
        group = by_id.get(name)
        if group is None:
            failures.append(f"landmark {name} missing")
            continue
        # A group is a one-item sequence holding the Measurement Group CONTAINER.
        points = [item for item in group[0].ContentSequence if item.value_type == hd.sr.ValueTypeValues.SCOORD3D]
        if len(points) != 1:
            failures.append(f"landmark {name}: {len(points)} SCOORD3D items")
            continue
        point = points[0]
        if point.graphic_type != hd.sr.GraphicTypeValues3D.POINT:
            failures.append(f"landmark {name}: graphic type {point.graphic_type}")
        if not np.allclose(point.value.ravel(), position, atol=1e-3):
            failures.append(f"landmark {name}: {point.value} != {position}")
        if point.frame_of_reference_uid != job["frame_of_reference"]:
            failures.append(f"landmark {name}: frame of reference {point.frame_of_reference_uid}")

    for name, expected in job.get("distances", {}).items():
        group = by_id.get(name)
        distances = [m for m in group.get_measurements() if m.name.value == "121206"] if group else []
        if len(distances) != 1:
            failures.append(f"distance {name}: {len(distances)} measurements")
        elif abs(distances[0].value - expected) > 1e-6 * max(expected, 1) or distances[0].unit.value != "mm":
            failures.append(f"distance {name}: {distances[0].value} {distances[0].unit.value} != {expected} mm")

    for line in failures:
        print("FAIL:", line)
    if failures:
        return 1
    print(json.dumps({"volume_groups": len(seen), "individual_groups": len(groups)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
