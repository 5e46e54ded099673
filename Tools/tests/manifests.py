"""Manifest parts (model.json without format/network) for the tests' packages."""

STRUCTURE = {"code": "123037004", "scheme": "SCT", "meaning": "Anatomical Structure"}


def segmentation(classes, spacing=(2.0, 2.0, 2.0), patch=(32, 32, 32), normalization=None):
    return {
        "name": "test-seg",
        "task": "segmentation",
        "inputs": [
            {
                "name": "ct",
                "modality": "CT",
                "normalization": normalization or {"kind": "ct", "clip": [-1000.0, 1000.0], "mean": 40.0, "std": 300.0},
            }
        ],
        "target_spacing": list(spacing),
        "patch_size": list(patch),
        "mirror_axes": [],
        "labels": [
            {
                "value": v,
                "name": f"Class {v}",
                "category": STRUCTURE,
                "type": {"code": f"C{v}", "scheme": "99TEST", "meaning": f"Class {v}"},
            }
            for v in range(1, classes)
        ],
        "algorithm": {"name": "Tools test segmentation", "version": "0.0"},
    }


def landmarks(count, spacing=(2.0, 2.0, 2.0), patch=(32, 32, 32)):
    return {
        "name": "test-landmarks",
        "task": "landmarks",
        "inputs": [{"name": "ct", "modality": "CT", "normalization": {"kind": "zscore"}}],
        "target_spacing": list(spacing),
        "patch_size": list(patch),
        "mirror_axes": [],
        "landmarks": [{"channel": c, "name": f"L{c}"} for c in range(count)],
        "distances": [{"from": "L0", "to": "L1", "name": "L0-L1"}],
        "algorithm": {"name": "Tools test landmarks", "version": "0.0"},
    }


def classification(spacing=(2.0, 2.0, 2.0)):
    code = lambda c, m: {"code": c, "scheme": "99TEST", "meaning": m}
    return {
        "name": "test-cls",
        "task": "classification",
        "inputs": [{"name": "ct", "modality": "CT", "normalization": {"kind": "zscore", "nonzero_mask": True}}],
        "target_spacing": list(spacing),
        "patch_size": [32, 32, 32],
        "mirror_axes": [],
        "classification": {
            "concept": code("F", "Finding"),
            "positive": code("P", "Present"),
            "negative": code("A", "Absent"),
            "threshold": 0.5,
        },
        "algorithm": {"name": "Tools test classification", "version": "0.0"},
    }
