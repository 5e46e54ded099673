"""Reading checkpoints: ours (`.pt` from Tools/train.py), nnU-Net v1 (`.model` + `.model.pkl`)
and classification state_dicts (`.pth`). Pickles are read with an allow-list (tensors, numpy
arrays and scalars, plain containers), never by importing arbitrary classes."""

import pickle

import numpy as np
import torch

from .package import ExportError

# numpy names a plans pickle or a checkpoint's bookkeeping (numpy metrics) may need.
_NUMPY = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _PlansUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _NUMPY or module.startswith("numpy.dtypes"):
            return super().find_class(module, name)
        if (module, name) in {
            ("collections", "OrderedDict"),
            ("builtins", "set"),
            ("builtins", "frozenset"),
            ("builtins", "tuple"),
            ("builtins", "slice"),
        }:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only plain data and numpy arrays are read)")


def load_pickle(path):
    try:
        with open(path, "rb") as f:
            return _PlansUnpickler(f).load()
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        raise ExportError(f"{path}: cannot read the pickle: {e}") from e


def _numpy_safe_globals():
    names = [np.dtype, np.ndarray]
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            mod = __import__(module, fromlist=["scalar", "_reconstruct"])
            names += [mod.scalar, mod._reconstruct]
        except (ImportError, AttributeError):
            pass
    names += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return names


def load_torch(path, trust=False):
    """torch.load restricted to tensors and plain data (numpy scalars allowed); `trust` lifts the
    restriction for checkpoints holding other objects, from a source the user trusts."""
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise ExportError(f"{path}: not found") from e
    except Exception as e:  # torch raises several types for a pickle it refuses
        raise ExportError(
            f"{path}: cannot load as a restricted torch checkpoint ({e}); if it comes from a "
            "source you trust, pass --trust-checkpoint"
        ) from e


def state_dict_of(obj, path, key="state_dict"):
    """The state_dict inside a checkpoint object: `obj[key]`, or obj itself if it is one."""
    if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
        return obj[key]
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    raise ExportError(f"{path}: no '{key}' entry and not a state_dict itself")


def nnunet_plans(info, path):
    """(plans, stage) from a `.model.pkl`: nnU-Net v1 stores {'init': (plans_file, fold,
    output_folder, dataset_directory, batch_dice, stage, …), 'name', 'class', 'plans'}; a bare
    plans dict is accepted too (stage: the last, as 3d_fullres uses)."""
    if not isinstance(info, dict):
        raise ExportError(f"{path}: expected a dict, found {type(info).__name__}")
    plans = info.get("plans", info)
    if "plans_per_stage" not in plans:
        raise ExportError(f"{path}: plans have no 'plans_per_stage'")
    stage = None
    init = info.get("init")
    if isinstance(init, (tuple, list)) and len(init) > 5 and isinstance(init[5], (int, np.integer)):
        stage = int(init[5])
    return plans, stage


def _channel_map(d):
    """Plans dicts are keyed by channel index (int; sometimes str)."""
    return {int(k): v for k, v in (d or {}).items()}


def manifest_from_plans(plans, stage, path):
    """inputs (names, modality, normalisation), target_spacing, patch_size, the preprocessing
    recipe and the class count from nnU-Net v1 plans.

    nnU-Net works in the voxel order SimpleITK gives, (k, j, i) of the NIfTI file as stored
    (dcm2niix: rows reversed), permuted by transpose_forward; the package says so with
    input_layout and `preprocessing: {"recipe": "nnunet_v1", "transpose_forward": ...}`
    (docs/official-input-layouts.md), and the node builds that tensor. The stage's patch_size
    stays in the transposed (tensor) order; its current_spacing is un-permuted to (k, j, i) and
    reported as (i, j, k), as model.json's target_spacing is."""
    stages = plans["plans_per_stage"]
    keys = sorted(stages) if isinstance(stages, dict) else list(range(len(stages)))
    if stage is None:
        stage = keys[-1]
    if stage not in keys:
        raise ExportError(f"{path}: plans_per_stage has no stage {stage} (stages {keys})")
    st = stages[stage]
    for key in ("patch_size", "current_spacing"):
        if key not in st:
            raise ExportError(f"{path}: plans_per_stage[{stage}] has no '{key}'")
    transpose = [int(a) for a in plans.get("transpose_forward", [0, 1, 2])]
    if sorted(transpose) != [0, 1, 2]:
        raise ExportError(f"{path}: transpose_forward {transpose} is not a permutation of [0, 1, 2]")
    patch_transposed = [int(p) for p in st["patch_size"]]
    spacing_kji = [0.0, 0.0, 0.0]
    for a, s in enumerate(st["current_spacing"]):
        spacing_kji[transpose[a]] = float(s)
    modalities = _channel_map(plans.get("modalities"))
    schemes = _channel_map(plans.get("normalization_schemes"))
    use_mask = _channel_map(plans.get("use_mask_for_norm"))
    intensity = _channel_map((plans.get("dataset_properties") or {}).get("intensityproperties"))
    count = plans.get("num_modalities", len(modalities) or len(schemes))
    inputs = []
    for c in range(count):
        scheme = schemes.get(c)
        modality = str(modalities.get(c, f"channel{c}"))
        if scheme == "CT":
            props = intensity.get(c)
            if not props:
                raise ExportError(
                    f"{path}: normalization_schemes[{c}] is CT but "
                    f"dataset_properties.intensityproperties[{c}] is missing"
                )
            try:
                norm = {
                    "kind": "ct",
                    "clip": [float(props["percentile_00_5"]), float(props["percentile_99_5"])],
                    "mean": float(props["mean"]),
                    "std": float(props["sd"]),
                }
                if use_mask.get(c, False):
                    # nnU-Net then zeroes CT outside the non-zero mask too.
                    norm["nonzero_mask"] = True
            except KeyError as e:
                raise ExportError(f"{path}: dataset_properties.intensityproperties[{c}] has no {e}") from e
        elif scheme == "nonCT":
            norm = {"kind": "zscore", "nonzero_mask": bool(use_mask.get(c, False))}
        elif scheme == "noNorm":
            norm = {"kind": "none"}
        else:
            raise ExportError(
                f"{path}: normalization_schemes[{c}] = {scheme!r} is not supported (CT, nonCT and noNorm are)"
            )
        name = modality.lower().replace(" ", "_") if modality else f"channel{c}"
        entry = {"name": name, "normalization": norm}
        if modality.upper() in ("CT", "MR", "PT"):
            entry["modality"] = modality.upper()
        inputs.append(entry)
    derived = {
        "inputs": inputs,
        "target_spacing": [spacing_kji[2], spacing_kji[1], spacing_kji[0]],
        "patch_size": patch_transposed,
        "preprocessing": {"recipe": "nnunet_v1", "transpose_forward": transpose},
        # nnU-Net v1 predicts with mirroring over all three axes by default.
        "mirror_axes": [2, 3, 4],
    }
    classes = plans.get("num_classes")
    return derived, (int(classes) + 1 if classes is not None else None), stage


def load_ours(path, trust=False):
    ckpt = load_torch(path, trust)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "config" not in ckpt:
        raise ExportError(f"{path}: expected {{'state_dict', 'config'}} as written by Tools/train.py")
    config = ckpt["config"]
    for key in ("architecture", "constructor", "manifest"):
        if key not in config:
            raise ExportError(f"{path}: config has no '{key}'")
    return ckpt["state_dict"], config


def save_ours(path, model, architecture, constructor, manifest, card=""):
    """Our checkpoint: {"state_dict", "config": {"architecture", "constructor", "manifest", "card"}}.
    `manifest` is model.json without `format` and `network` (the exporter derives those)."""
    # On the CPU whatever device trained it: a reader without CUDA can load it without map_location.
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    torch.save(
        {
            "state_dict": state,
            "config": {
                "architecture": architecture,
                "constructor": dict(constructor),
                "manifest": manifest,
                "card": card,
            },
        },
        path,
    )
