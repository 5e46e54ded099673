"""Turns a checkpoint into a MambaNode model package (docs/model-package.md).

    export.py ours CKPT.pt OUT_DIR [--outputs OUTPUTS.json]
    export.py nnunet model_final_checkpoint.model OUT_DIR --outputs OUTPUTS.json [--plans X.model.pkl] [--stage N]
    export.py cls best_weight.pth OUT_DIR --outputs OUTPUTS.json
    export.py lfc best_model.pth OUT_DIR --outputs OUTPUTS.json

What a checkpoint does not carry (label names and codes, landmark names, the classification
finding, the algorithm name, for `.pth` also spacing and normalisation) comes from the --outputs
JSON, a partial model.json; see Tools/README.md. The network (architecture, widths, flavour) is
read from the weights themselves, and the written weights are loaded back into our PyTorch
network before the package is declared done.
"""

import argparse
import datetime
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nnmamba.checkpoints import load_ours, load_pickle, load_torch, manifest_from_plans, nnunet_plans, state_dict_of  # noqa: E402
from nnmamba.networks import build  # noqa: E402
from nnmamba.package import (
    FORMAT,
    ExportError,
    check_manifest,
    clean_state_dict,
    infer_network,  # noqa: E402
    network_manifest,
    sha256,
    write_package,
)

# Fields of --outputs that may replace what the exporter derived from the checkpoint.
REPLACEABLE = {
    "name",
    "task",
    "labels",
    "landmarks",
    "distances",
    "classification",
    "algorithm",
    "mirror_axes",
    "input_layout",
}


def read_outputs(path):
    if path is None:
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ExportError(f"--outputs {path}: {e}") from e
    if not isinstance(data, dict):
        raise ExportError(f"--outputs {path}: expected a JSON object")
    return data


def merge(derived, outputs):
    """derived ⊕ outputs. Fields the checkpoint fixes (network, target_spacing, patch_size) must
    agree when both give them; inputs merge per channel (names and modality from --outputs;
    normalisation only where the checkpoint has none)."""
    m = dict(derived)
    for key, value in outputs.items():
        if key == "card":
            continue
        if key == "inputs":
            have = m.get("inputs")
            if have is None:
                m["inputs"] = value
                continue
            if len(value) != len(have):
                raise ExportError(f"inputs: --outputs gives {len(value)} channels, the checkpoint {len(have)}")
            merged = []
            for i, (ours, theirs) in enumerate(zip(have, value)):
                entry = dict(ours)
                for k, v in theirs.items():
                    if k == "normalization" and "normalization" in ours and ours["normalization"] != v:
                        raise ExportError(
                            f"inputs[{i}].normalization: the checkpoint says {ours['normalization']}, "
                            f"--outputs says {v}"
                        )
                    entry[k] = v
                merged.append(entry)
            m["inputs"] = merged
        elif key in m and key not in REPLACEABLE and m[key] != value:
            raise ExportError(f"{key}: the checkpoint says {m[key]}, --outputs says {value}")
        else:
            m[key] = value
    return m


def verify_loadable(architecture, constructor, state_dict):
    """Loads the package's tensors into our PyTorch network: every key present, none extra, shapes right."""
    if architecture == "nnMambaSeg":
        constructor = constructor | {"ds_heads": False}  # training-only heads, dropped from packages
    net = build(architecture, **constructor)
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise ExportError(f"the weights do not fit {architecture}{constructor}: {e}") from e
    return net


def card(manifest, source, command, extra):
    n = manifest["network"]
    lines = [
        f"# {manifest['name']}",
        "",
        f"Task: {manifest['task']}. Network: {n['architecture']} "
        f"(in_channels {n['in_channels']}, channels {n['channels']}, blocks {n['blocks']}, "
        f"outputs {n['outputs']}, d_state {n['d_state']}).",
        "",
    ]
    if extra:
        lines += [extra.rstrip(), ""]
    lines += [
        "## Export",
        "",
        f"- source: `{os.path.basename(source)}` (sha256 {sha256(source)})",
        f"- exported {datetime.date.today().isoformat()} by `{command}`",
        f"- target spacing {manifest['target_spacing']} mm (x, y, z); patch {manifest['patch_size']} (D, H, W); "
        f"mirror axes {manifest.get('mirror_axes', [])}",
        f"- input layout {json.dumps(manifest.get('input_layout'), sort_keys=True)} (docs/official-input-layouts.md)",
    ]
    for i, inp in enumerate(manifest["inputs"]):
        lines.append(f"- input {i}: {inp['name']}, normalization {json.dumps(inp['normalization'], sort_keys=True)}")
    return "\n".join(lines) + "\n"


def finish(out_dir, architecture, constructor, state_dict, manifest, source, extra_card, args):
    manifest = dict(manifest)
    manifest["format"] = FORMAT
    manifest["network"] = network_manifest(architecture, constructor)
    manifest.setdefault("mirror_axes", [])
    check_manifest(manifest)
    verify_loadable(architecture, constructor, state_dict)
    command = "Tools/export.py " + " ".join(args)
    write_package(out_dir, state_dict, manifest, card(manifest, source, command, extra_card))
    print(f"wrote {out_dir}: {architecture} {constructor}, {len(state_dict)} tensors")


def export_ours(a, argv):
    raw, config = load_ours(a.checkpoint, a.trust_checkpoint)
    sd = clean_state_dict(raw)
    architecture, constructor = infer_network(sd)
    declared = dict(config["constructor"])
    for key, value in constructor.items():
        if key in declared and declared[key] != value:
            raise ExportError(f"config.constructor.{key}: {declared[key]}, but the weights say {value}")
    manifest = merge(config["manifest"], read_outputs(a.outputs))
    # Tools/train.py trains on the node's own tensor: LPS, [k, j, i].
    manifest.setdefault("input_layout", {"orientation": "LPS", "array": "sitk_kji"})
    extra = config.get("card", "") + ("\n\n" + read_outputs(a.outputs).get("card", "") if a.outputs else "")
    finish(a.out_dir, architecture, declared | constructor, sd, manifest, a.checkpoint, extra.strip(), argv)


def export_nnunet(a, argv):
    ckpt = load_torch(a.checkpoint, a.trust_checkpoint)
    sd = clean_state_dict(state_dict_of(ckpt, a.checkpoint))
    architecture, constructor = infer_network(sd)
    if architecture != "nnMambaSeg":
        raise ExportError(f"{a.checkpoint}: an nnU-Net checkpoint must hold nnMambaSeg, found {architecture}")
    plans_path = a.plans or a.checkpoint + ".pkl"
    plans, stage = nnunet_plans(load_pickle(plans_path), plans_path)
    derived, classes, stage = manifest_from_plans(plans, a.stage if a.stage is not None else stage, plans_path)
    if classes is not None and classes != constructor["number_classes"]:
        raise ExportError(
            f"{plans_path}: num_classes {classes - 1} (+ background) but conv8 has "
            f"{constructor['number_classes']} outputs"
        )
    if len(derived["inputs"]) != constructor["in_ch"]:
        raise ExportError(f"{plans_path}: {len(derived['inputs'])} modalities but in_conv takes {constructor['in_ch']}")
    derived["task"] = "segmentation"
    # nnU-Net v1 reads each file with SimpleITK, [k, j, i] of the voxels as stored, and never
    # reorients (docs/official-input-layouts.md §2).
    derived["input_layout"] = {"orientation": "as_stored_by_dcm2niix", "array": "sitk_kji"}
    outputs = read_outputs(a.outputs)
    finish(
        a.out_dir,
        architecture,
        constructor,
        sd,
        merge(derived, outputs),
        a.checkpoint,
        f"Exported from an nnU-Net v1 checkpoint (stage {stage}, MambaLayer flavour {constructor['flavour']})."
        + ("\n\n" + outputs["card"] if outputs.get("card") else ""),
        argv,
    )


def export_cls(a, argv):
    sd = clean_state_dict(state_dict_of(load_torch(a.checkpoint, a.trust_checkpoint), a.checkpoint))
    architecture, constructor = infer_network(sd)
    if architecture != "nnMambaEncoder":
        raise ExportError(f"{a.checkpoint}: expected a classification network (mlp.*), found {architecture}")
    outputs = read_outputs(a.outputs)
    for key in ("target_spacing",):
        if key not in outputs:
            raise ExportError(f"{key}: a classification state_dict does not carry it; give it in --outputs")
    # Upstream feeds the volume without normalisation, crop or resize (docs/nnmamba-architecture.md §6).
    derived = {
        "task": "classification",
        "inputs": [
            {"name": f"image{c}" if constructor["in_ch"] > 1 else "image", "normalization": {"kind": "none"}}
            for c in range(constructor["in_ch"])
        ],
        "patch_size": outputs.get("patch_size", [16, 16, 16]),
        # The classification code reads with nibabel, [i, j, k] as stored, no reorientation
        # (docs/official-input-layouts.md §3).
        "input_layout": {"orientation": "as_stored_by_dcm2niix", "array": "nibabel_ijk"},
        "preprocessing": {"recipe": "none"},
    }
    finish(
        a.out_dir, architecture, constructor, sd, merge(derived, outputs), a.checkpoint, outputs.get("card", ""), argv
    )


def export_lfc(a, argv):
    """A landmark checkpoint of the LFC code (lhaof/LFC; docs/official-input-layouts.md §4): the
    stored volume resized to 128³, LFC's intensity window, one heat-map per landmark."""
    sd = clean_state_dict(state_dict_of(load_torch(a.checkpoint, a.trust_checkpoint), a.checkpoint))
    architecture, constructor = infer_network(sd)
    if architecture != "nnMambaSeg":
        raise ExportError(f"{a.checkpoint}: expected a heat-map network (nnMambaSeg), found {architecture}")
    outputs = read_outputs(a.outputs)
    if "landmarks" not in outputs:
        raise ExportError("landmarks: a landmark state_dict does not name its channels; give them in --outputs")
    grid = 128  # LFC's process_image resizes every volume to 128³
    derived = {
        "task": "landmarks",
        "inputs": [{"name": "image", "normalization": {"kind": "lfc_window"}}],
        # [k, j, i] of the stored file, as SimpleITK reads it.
        "input_layout": {"orientation": "as_stored_by_dcm2niix", "array": "sitk_kji"},
        "preprocessing": {"recipe": "lfc", "grid": [grid, grid, grid]},
        "patch_size": [grid, grid, grid],
        # The lfc recipe resizes to the grid whatever the spacing: target_spacing is not read.
        "target_spacing": [1.0, 1.0, 1.0],
        # LFC predicts once, without mirroring; its argmax is the peak.
        "mirror_axes": [],
        "landmark_refinement": "peak",
    }
    finish(
        a.out_dir, architecture, constructor, sd, merge(derived, outputs), a.checkpoint, outputs.get("card", ""), argv
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See Tools/README.md for --outputs.")
    sub = p.add_subparsers(dest="kind", required=True)
    for kind, help_text in (
        ("ours", "a .pt written by Tools/train.py"),
        ("nnunet", "nnU-Net v1 model_final_checkpoint.model (+ .model.pkl plans)"),
        ("cls", "a classification state_dict .pth (nnMamba4cls.py)"),
        ("lfc", "a landmark heat-map state_dict .pth (lhaof/LFC)"),
    ):
        s = sub.add_parser(kind, help=help_text)
        s.add_argument("checkpoint")
        s.add_argument("out_dir", help="package folder to write")
        s.add_argument(
            "--outputs",
            help="JSON with what the checkpoint does not carry (a partial model.json)",
            required=kind != "ours",
        )
        s.add_argument(
            "--trust-checkpoint",
            action="store_true",
            help="load the checkpoint pickle unrestricted (only for files from a trusted source)",
        )
        if kind == "nnunet":
            s.add_argument("--plans", help="plans pickle (default: CHECKPOINT.pkl)")
            s.add_argument("--stage", type=int, help="plans stage (default: the checkpoint's, else the last)")
    a = p.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    try:
        {"ours": export_ours, "nnunet": export_nnunet, "cls": export_cls, "lfc": export_lfc}[a.kind](a, argv)
    except ExportError as e:
        print(f"export.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
