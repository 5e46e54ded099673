"""Model packages (docs/model-package.md): `model.json` (snake_case, format "mambanode-model/2"),
`weights.safetensors` (state_dict keys of the official code) and `README.md` (the model card)."""

import hashlib
import json
import os
import re

import torch
from safetensors.torch import save_file

FORMAT = "mambanode-model/2"
# Packages written before `input_layout` existed; the node reads them with its own layout.
FIRST_FORMAT = "mambanode-model/1"


class ExportError(Exception):
    """A checkpoint or its metadata cannot become a package; the message names the key or field."""


def clean_state_dict(state_dict):
    """The tensors a package holds: `module.` (DataParallel/DDP) stripped, the nnU-Net deep-
    supervision heads (training only) dropped, every tensor its own contiguous copy — the shared
    Mamba layer appears under each block that uses it, and safetensors refuses shared storage."""
    out = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise ExportError(f"state_dict entry {key!r} is {type(value).__name__}, not a tensor")
        name = key[len("module.") :] if key.startswith("module.") else key
        if re.match(r"ds\d+_cls_conv\.", name):
            continue
        if name in out:
            raise ExportError(f"state_dict has {name!r} both with and without the 'module.' prefix")
        tensor = value.detach().cpu()
        tensor = tensor.to(torch.float32) if tensor.is_floating_point() else tensor
        out[name] = tensor.clone().contiguous()
    return out


def infer_network(state_dict):
    """Architecture and constructor arguments from the keys and shapes (Appendix A/B)."""

    def shape(key):
        if key not in state_dict:
            raise ExportError(f"state_dict has no {key!r}: not an nnMamba network")
        return tuple(state_dict[key].shape)

    channels, in_ch = shape("in_conv.conv.0.weight")[:2]
    blocks = 1 + max((int(m.group(1)) for k in state_dict if (m := re.match(r"layer1\.(\d+)\.", k))), default=-1)
    if blocks < 1:
        raise ExportError("state_dict has no layer1.* keys: not an nnMamba network")
    if "mlp.3.weight" in state_dict:
        return "nnMambaEncoder", dict(
            in_ch=in_ch,
            channels=channels,
            blocks=blocks,
            number_classes=shape("mlp.3.weight")[0],
            d_state=shape("mamba_layer_stem.mamba.A_log")[1],
        )
    mamba = [k for k in state_dict if re.match(r"layer1\.\d+\.mamba_layer\.mamba\.A_log$", k)]
    if not mamba:
        raise ExportError(
            "state_dict has neither mlp.3.weight (classification) nor layer1.N.mamba_layer.* (segmentation)"
        )
    flavour = "css" if any(".mamba_layer.nin2." in k for k in state_dict) else "nnunet"
    return "nnMambaSeg", dict(
        in_ch=in_ch,
        channels=channels,
        blocks=blocks,
        number_classes=shape("conv8.conv.0.weight")[0],
        d_state=tuple(state_dict[mamba[0]].shape)[1],
        flavour=flavour,
    )


def network_manifest(architecture, config):
    return {
        "architecture": architecture,
        "in_channels": config["in_ch"],
        "channels": config["channels"],
        "blocks": config["blocks"],
        "outputs": config["number_classes"],
        "d_state": config["d_state"],
    }


def check_manifest(m):
    """The checks the node makes on load (Sources/ModelPackage), so a bad package fails here,
    naming the field, rather than on the node."""

    def need(cond, field, message):
        if not cond:
            raise ExportError(f"{field}: {message}")

    for field in ("format", "name", "task", "network", "inputs", "target_spacing", "patch_size", "algorithm"):
        need(field in m, field, "missing")
    need(m["format"] in (FORMAT, FIRST_FORMAT), "format", f"must be {FORMAT}")
    n = m["network"]
    task = m["task"]
    need(task in ("segmentation", "landmarks", "classification"), "task", f"unknown task {task!r}")
    need(m["format"] == FIRST_FORMAT or "input_layout" in m, "input_layout", f"must be given in {FORMAT}")
    layout = m.get("input_layout", {})
    need(isinstance(layout, dict), "input_layout", "must be an object")
    need(
        layout.get("orientation", "LPS") in ("LPS", "as_stored_by_dcm2niix"),
        "input_layout.orientation",
        f"unknown orientation {layout.get('orientation')!r}",
    )
    need(
        layout.get("array", "sitk_kji") in ("sitk_kji", "nibabel_ijk"),
        "input_layout.array",
        f"unknown array order {layout.get('array')!r}",
    )
    recipe = m.get("preprocessing", {}).get("recipe", "mambanode")
    need(
        recipe in ("mambanode", "nnunet_v1", "lfc", "none"),
        "preprocessing.recipe",
        f"unknown recipe {recipe!r}",
    )
    need(
        recipe == "mambanode" or layout.get("orientation") == "as_stored_by_dcm2niix",
        "input_layout.orientation",
        f"the {recipe} recipe reads volumes as_stored_by_dcm2niix",
    )
    need(
        (task == "classification") == (n["architecture"] == "nnMambaEncoder"),
        "network.architecture",
        f"{n['architecture']} cannot do {task}",
    )
    if n["architecture"] == "nnMambaSeg":
        need(n["channels"] >= 16, "network.channels", "nnMambaSeg needs at least 16 channels")
        need(all(p >= 16 and p % 16 == 0 for p in m["patch_size"]), "patch_size", "each a multiple of 16")
    need(
        len(m["inputs"]) == n["in_channels"],
        "inputs",
        f"{len(m['inputs'])} inputs for a network with {n['in_channels']} input channels",
    )
    for i, inp in enumerate(m["inputs"]):
        need("name" in inp, f"inputs[{i}].name", "missing")
        z = inp.get("normalization", {})
        kinds = ("ct", "zscore", "none") + (("lfc_window",) if recipe == "lfc" else ())
        need(z.get("kind") in kinds, f"inputs[{i}].normalization.kind", " or ".join(kinds))
        if z["kind"] == "ct":
            need(
                len(z.get("clip", [])) == 2 and z["clip"][0] < z["clip"][1],
                f"inputs[{i}].normalization.clip",
                "CT normalisation needs [low, high]",
            )
            need("mean" in z and z.get("std", 0) > 0, f"inputs[{i}].normalization", "CT needs mean and a positive std")
    need(
        len(m["target_spacing"]) == 3 and all(s > 0 for s in m["target_spacing"]),
        "target_spacing",
        "three positive spacings in mm",
    )
    need(len(m["patch_size"]) == 3, "patch_size", "three sizes (D, H, W)")
    for a in m.get("mirror_axes") or []:
        need(a in (2, 3, 4), "mirror_axes", f"axis {a} is not 2, 3 or 4")
    if task == "segmentation":
        labels = m.get("labels") or []
        need(labels, "labels", "a segmentation model needs labels (give them with --outputs)")
        for i, label in enumerate(labels):
            need(
                1 <= label.get("value", 0) < n["outputs"],
                f"labels[{i}].value",
                f"{label.get('value')} is not an output class 1…{n['outputs'] - 1}",
            )
            for key in ("name", "category", "type"):
                need(key in label, f"labels[{i}].{key}", "missing")
    elif task == "landmarks":
        marks = m.get("landmarks") or []
        need(marks, "landmarks", "a landmark model needs landmarks (give them with --outputs)")
        for i, mark in enumerate(marks):
            need(
                0 <= mark.get("channel", -1) < n["outputs"],
                f"landmarks[{i}].channel",
                f"not an output channel 0…{n['outputs'] - 1}",
            )
        names = {mark["name"] for mark in marks}
        for i, d in enumerate(m.get("distances") or []):
            need(d["from"] in names and d["to"] in names, f"distances[{i}]", "unknown landmark")
    else:
        need(
            "classification" in m,
            "classification",
            "a classification model needs classification (give it with --outputs)",
        )
    need(m["algorithm"].get("name") and m["algorithm"].get("version"), "algorithm", "name and version must be given")


def write_package(directory, state_dict, manifest, card):
    """Writes the three files; returns the paths. `state_dict` must already be clean."""
    check_manifest(manifest)
    os.makedirs(directory, exist_ok=True)
    weights = os.path.join(directory, "weights.safetensors")
    save_file(state_dict, weights)
    with open(os.path.join(directory, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(directory, "README.md"), "w") as f:
        f.write(card.rstrip() + "\n")
    return directory


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
