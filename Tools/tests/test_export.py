"""export.py on checkpoints written in the official formats (small channels): nnU-Net v1
`model_final_checkpoint.model` + `.model.pkl`, and a classification `state_dict` `.pth`. The
packages pass `mambanode models verify`, hold every key of the official state_dict (shared Mamba
tensors under each block, ds heads and `module.` gone) and compute what the checkpoint computes."""

import collections
import json
import pickle
import subprocess

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import export
import manifests
from nnmamba import nnMambaEncoder, nnMambaSeg


def plans(classes=4, transpose=(0, 1, 2), scheme="CT"):
    """nnU-Net v1 plans (the structure ExperimentPlanner3D_v21 pickles), two stages."""
    stage = lambda patch, spacing: {
        "batch_size": 2,
        "num_pool_per_axis": [4, 4, 4],
        "patch_size": np.array(patch),
        "median_patient_size_in_voxels": np.array([90, 200, 200]),
        "current_spacing": np.array(spacing),
        "original_spacing": np.array([3.0, 0.8, 0.8]),
        "do_dummy_2D_data_aug": False,
        "pool_op_kernel_sizes": [[2, 2, 2]] * 4,
        "conv_kernel_sizes": [[3, 3, 3]] * 5,
    }
    return {
        "num_stages": 2,
        "num_modalities": 1,
        "modalities": {0: "CT"},
        "normalization_schemes": collections.OrderedDict({0: scheme}),
        "use_mask_for_norm": collections.OrderedDict({0: False}),
        "dataset_properties": {
            "intensityproperties": collections.OrderedDict(
                {
                    0: collections.OrderedDict(
                        median=np.float64(45.0),
                        mean=np.float64(52.5),
                        sd=np.float64(180.25),
                        min=-1024.0,
                        max=3071.0,
                        percentile_99_5=np.float64(890.0),
                        percentile_00_5=np.float64(-960.0),
                    )
                }
            ),
            "all_sizes": [np.array([90, 200, 200])],
            "all_spacings": [np.array([3.0, 0.8, 0.8])],
        },
        "list_of_npz_files": ["case_000.npz"],
        "original_spacings": [np.array([3.0, 0.8, 0.8])],
        "original_sizes": [np.array([90, 200, 200])],
        "preprocessed_data_folder": "/data/nnUNet_preprocessed/Task500",
        "num_classes": classes - 1,
        "all_classes": list(range(1, classes)),
        "base_num_features": 32,
        "keep_only_largest_region": None,
        "min_region_size_per_class": None,
        "min_size_per_class": None,
        "transpose_forward": list(transpose),
        "transpose_backward": list(transpose),
        "data_identifier": "nnUNetData_plans_v2.1",
        "preprocessor_name": "GenericPreprocessor",
        "conv_per_stage": 2,
        "plans_per_stage": {0: stage([32, 32, 32], [6.0, 3.0, 3.0]), 1: stage([32, 48, 64], [3.0, 1.5, 1.2])},
    }


def nnunet_checkpoint(tmp_path, model, plans_dict, stage=1):
    """model_final_checkpoint.model (+ .pkl) as nnU-Net v1's save_checkpoint writes them, the
    state_dict as from a DataParallel-wrapped network."""
    sd = collections.OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
    path = tmp_path / "model_final_checkpoint.model"
    torch.save(
        {
            "epoch": 1000,
            "state_dict": sd,
            "optimizer_state_dict": {"state": {}, "param_groups": []},
            "lr_scheduler_state_dict": None,
            "plot_stuff": ([1.2, 0.9], [1.1, 0.95], [np.float64(0.61), np.float64(0.7)], [0.6, 0.71]),
            "best_stuff": (999, np.float64(0.71), np.float64(0.7), 950),
            "amp_grad_scaler": {"scale": 65536.0},
        },
        path,
    )
    info = {
        "init": ("/data/plans.pkl", 0, "/results/fold_0", "/data/Task500", True, stage, True, False, True),
        "name": "nnUNetTrainerV2_nnMamba",
        "class": "<class 'nnUNetTrainerV2_nnMamba'>",
        "plans": plans_dict,
    }
    with open(str(path) + ".pkl", "wb") as f:
        pickle.dump(info, f)
    return str(path)


def outputs_json(tmp_path, content):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(content))
    return str(path)


def seg_outputs(classes):
    m = manifests.segmentation(classes)
    return {k: m[k] for k in ("name", "labels", "algorithm")} | {"card": "Fake nnU-Net checkpoint (test)."}


def verify(mambanode, package):
    result = subprocess.run([mambanode, "models", "verify", package], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def randomised(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("running_mean"):
                t.copy_(0.2 * torch.randn(t.shape, generator=g))
    return model.eval()


def test_nnunet_v1_checkpoint_becomes_a_verified_package(tmp_path, mambanode):
    torch.manual_seed(0)
    model = randomised(nnMambaSeg(1, 16, 3, 4, flavour="nnunet"), 1)
    ckpt = nnunet_checkpoint(tmp_path, model, plans(classes=4))
    package = str(tmp_path / "package")
    assert export.main(["nnunet", ckpt, package, "--outputs", outputs_json(tmp_path, seg_outputs(4))]) == 0

    m = json.loads((tmp_path / "package" / "model.json").read_text())
    assert m["format"] == "mambanode-model/2" and m["task"] == "segmentation"
    assert m["network"] == {
        "architecture": "nnMambaSeg",
        "in_channels": 1,
        "channels": 16,
        "blocks": 3,
        "outputs": 4,
        "d_state": 16,
    }
    assert m["target_spacing"] == [1.2, 1.5, 3.0]  # stage 1 current_spacing (z, y, x) as (x, y, z)
    assert m["patch_size"] == [32, 48, 64]  # (D, H, W) = (z, y, x)
    # nnU-Net v1 read the files with SimpleITK, as stored (docs/official-input-layouts.md §2).
    assert m["input_layout"] == {"orientation": "as_stored_by_dcm2niix", "array": "sitk_kji"}
    assert m["preprocessing"] == {"recipe": "nnunet_v1", "transpose_forward": [0, 1, 2]}
    assert m["inputs"] == [
        {
            "name": "ct",
            "modality": "CT",
            "normalization": {"kind": "ct", "clip": [-960.0, 890.0], "mean": 52.5, "std": 180.25},
        }
    ]
    assert m["mirror_axes"] == [2, 3, 4]
    assert "Fake nnU-Net checkpoint" in (tmp_path / "package" / "README.md").read_text()

    weights = load_file(str(tmp_path / "package" / "weights.safetensors"))
    official = {k for k in model.state_dict() if not k.startswith("ds")}
    assert set(weights) == official
    for stage in (1, 2, 3):
        for key in [k for k in weights if k.startswith(f"layer{stage}.1.mamba_layer.")]:
            assert torch.equal(weights[key], weights[key.replace(".1.mamba_layer.", ".2.mamba_layer.")])
    assert not any(".nin2." in k for k in weights)

    # The package computes what the checkpoint computes.
    reloaded = nnMambaSeg(1, 16, 3, 4, flavour="nnunet")
    reloaded.load_state_dict(weights, strict=False)
    x = torch.randn(1, 1, 32, 16, 16)
    with torch.no_grad():
        assert torch.equal(reloaded.eval()(x), model(x))
    assert "OK" in verify(mambanode, package)


def test_a_transposed_nnunet_plan_keeps_its_transpose_and_patch_and_unpermutes_the_spacing(tmp_path, mambanode):
    torch.manual_seed(0)
    ckpt = nnunet_checkpoint(tmp_path, nnMambaSeg(1, 16, 2, 4, flavour="nnunet").eval(), plans(transpose=(2, 0, 1)))
    package = str(tmp_path / "package")
    assert export.main(["nnunet", ckpt, package, "--outputs", outputs_json(tmp_path, seg_outputs(4))]) == 0
    m = json.loads((tmp_path / "package" / "model.json").read_text())
    assert m["preprocessing"] == {"recipe": "nnunet_v1", "transpose_forward": [2, 0, 1]}
    # current_spacing [3.0, 1.5, 1.2] is in the transposed order: (k, j, i) = (1.5, 1.2, 3.0).
    assert m["target_spacing"] == [3.0, 1.2, 1.5]
    assert m["patch_size"] == [32, 48, 64]  # the network's (transposed) order
    assert "OK" in verify(mambanode, package)


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda p: p.update(transpose_forward=[2, 0, 0]), "transpose_forward"),
        (lambda p: p.update(num_classes=7), "num_classes"),
        (lambda p: p.update(normalization_schemes={0: "CT2"}), "normalization_schemes[0]"),
        (lambda p: p["dataset_properties"]["intensityproperties"][0].pop("sd"), "'sd'"),
    ],
)
def test_nnunet_plans_that_the_node_cannot_follow_are_refused_naming_the_field(tmp_path, capsys, change, expected):
    torch.manual_seed(0)
    p = plans(classes=4)
    change(p)
    ckpt = nnunet_checkpoint(tmp_path, nnMambaSeg(1, 16, 2, 4, flavour="nnunet").eval(), p)
    assert (
        export.main(["nnunet", ckpt, str(tmp_path / "package"), "--outputs", outputs_json(tmp_path, seg_outputs(4))])
        == 1
    )
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "package").exists()


def test_labels_missing_from_outputs_are_named(tmp_path, capsys):
    torch.manual_seed(0)
    ckpt = nnunet_checkpoint(tmp_path, nnMambaSeg(1, 16, 2, 4).eval(), plans(classes=4))
    assert (
        export.main(
            [
                "nnunet",
                ckpt,
                str(tmp_path / "package"),
                "--outputs",
                outputs_json(tmp_path, {"name": "x", "algorithm": {"name": "a", "version": "1"}}),
            ]
        )
        == 1
    )
    assert "labels" in capsys.readouterr().err


def test_a_pickle_holding_code_is_refused(tmp_path, capsys):
    """The plans pickle is read with an allow-list: an object that would run code on load is not."""
    torch.manual_seed(0)
    ckpt = nnunet_checkpoint(tmp_path, nnMambaSeg(1, 16, 2, 4).eval(), plans(classes=4))

    class Exploit:
        def __reduce__(self):
            return (subprocess.call, (["true"],))

    with open(ckpt + ".pkl", "wb") as f:
        pickle.dump({"plans": Exploit()}, f)
    assert (
        export.main(["nnunet", ckpt, str(tmp_path / "package"), "--outputs", outputs_json(tmp_path, seg_outputs(4))])
        == 1
    )
    assert "refusing to load subprocess.call" in capsys.readouterr().err


def test_classification_state_dict_becomes_a_verified_package(tmp_path, mambanode):
    torch.manual_seed(0)
    model = randomised(nnMambaEncoder(1, 8, 2, 1), 2)
    pth = tmp_path / "best_weight.pth"
    torch.save(model.state_dict(), pth)  # nnMamba4cls training saves the bare state_dict
    m = manifests.classification(spacing=(1.5, 1.5, 1.5))
    out = {k: m[k] for k in ("name", "classification", "algorithm", "target_spacing")}
    out["inputs"] = [{"name": "t1", "modality": "MR"}]
    package = str(tmp_path / "package")
    assert export.main(["cls", str(pth), package, "--outputs", outputs_json(tmp_path, out)]) == 0
    written = json.loads((tmp_path / "package" / "model.json").read_text())
    assert written["network"] == {
        "architecture": "nnMambaEncoder",
        "in_channels": 1,
        "channels": 8,
        "blocks": 2,
        "outputs": 1,
        "d_state": 8,
    }
    assert written["inputs"] == [{"name": "t1", "modality": "MR", "normalization": {"kind": "none"}}]
    # The classification code read its volumes with nibabel, as stored (§3).
    assert written["input_layout"] == {"orientation": "as_stored_by_dcm2niix", "array": "nibabel_ijk"}
    assert written["preprocessing"] == {"recipe": "none"}
    assert written["target_spacing"] == [1.5, 1.5, 1.5]
    weights = load_file(str(tmp_path / "package" / "weights.safetensors"))
    assert set(weights) == set(model.state_dict())
    assert "OK" in verify(mambanode, package)


def test_lfc_landmark_state_dict_becomes_a_verified_package(tmp_path, mambanode):
    torch.manual_seed(0)
    model = randomised(nnMambaSeg(1, 16, 2, 3), 3)
    pth = tmp_path / "best_model.pth"
    torch.save(model.state_dict(), pth)
    out = {
        "name": "lfc-test",
        "landmarks": [{"channel": c, "name": f"L{c}"} for c in range(3)],
        "algorithm": {"name": "LFC test", "version": "0"},
    }
    package = str(tmp_path / "package")
    assert export.main(["lfc", str(pth), package, "--outputs", outputs_json(tmp_path, out)]) == 0
    written = json.loads((tmp_path / "package" / "model.json").read_text())
    # LFC reads with SimpleITK, resizes to 128³ and windows (docs/official-input-layouts.md §4).
    assert written["input_layout"] == {"orientation": "as_stored_by_dcm2niix", "array": "sitk_kji"}
    assert written["preprocessing"] == {"recipe": "lfc", "grid": [128, 128, 128]}
    assert written["inputs"] == [{"name": "image", "normalization": {"kind": "lfc_window"}}]
    assert written["patch_size"] == [128, 128, 128] and written["task"] == "landmarks"
    assert "OK" in verify(mambanode, package)


def test_classification_without_spacing_is_refused(tmp_path, capsys):
    pth = tmp_path / "best_weight.pth"
    torch.save(nnMambaEncoder(1, 8, 2, 1).state_dict(), pth)
    m = manifests.classification()
    assert (
        export.main(
            [
                "cls",
                str(pth),
                str(tmp_path / "p"),
                "--outputs",
                outputs_json(tmp_path, {k: m[k] for k in ("name", "classification", "algorithm")}),
            ]
        )
        == 1
    )
    assert "target_spacing" in capsys.readouterr().err


def test_classification_named_finding_fails_verify_naming_the_field(tmp_path, mambanode):
    """TID 1501 has a Finding row of its own: a package classifying (121071, DCM, Finding) would
    pass inference and fail at encoding, so `models verify` refuses it, naming the field."""
    pth = tmp_path / "best_weight.pth"
    torch.save(randomised(nnMambaEncoder(1, 8, 2, 1), 2).state_dict(), pth)
    m = manifests.classification(spacing=(1.5, 1.5, 1.5))
    out = {k: m[k] for k in ("name", "classification", "algorithm", "target_spacing")}
    out["classification"] = dict(
        out["classification"], concept={"code": "121071", "scheme": "DCM", "meaning": "Finding"}
    )
    package = str(tmp_path / "package")
    assert export.main(["cls", str(pth), package, "--outputs", outputs_json(tmp_path, out)]) == 0
    result = subprocess.run([mambanode, "models", "verify", package], capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "classification.concept" in result.stdout + result.stderr
