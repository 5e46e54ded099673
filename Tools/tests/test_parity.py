"""An exported package of a freshly initialised network gives the same output in
`mambanode infer` as in PyTorch (max error within the whole-network tolerance,
1e-4 · max(1, max|PyTorch|)), and the node's prepared input equals our preprocessing.

Each network is initialised from a seed, its BatchNorm statistics calibrated on two random
batches (so they are not the trivial 0/1), is saved as our checkpoint, exported with export.py, checked
with `mambanode models verify`, and run with `mambanode infer --raw-output` on a NIfTI that is
stored in a non-canonical orientation at a spacing other than the target (so reorientation and
resampling are exercised)."""

import subprocess

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import export
import manifests
from nnmamba import nnMambaEncoder, nnMambaSeg
from nnmamba.checkpoints import save_ours
from nnmamba.preprocess import Grid, prepare, read_nifti, write_nifti

NETWORK_TOLERANCE = 1e-4


def calibrated(model, in_ch, size):
    """BatchNorm running statistics set to the exact statistics of two random batches (cumulative
    average), so activations are O(1) in eval mode rather than shrunk by the initial 0/1."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, in_ch, *size) * 2 + 0.5)
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()


def oblique_volume(path, seed):
    """A 43 × 40 × 21 volume stored with i along −y (anterior), j along +x... at 1.5 × 1.6 × 3 mm:
    canonical order and 2 mm resampling both change the grid. Smooth content plus noise."""
    rng = np.random.default_rng(seed)
    size = np.array([43, 40, 21])
    direction = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # columns: i → −y, j → +x, k → +z
    grid = Grid(size, np.array([1.5, 1.6, 3.0]), np.array([-30.0, 40.0, -20.0]), direction)
    i, j, k = np.meshgrid(*[np.arange(n) for n in size], indexing="ij")
    voxels = 300 * np.sin(i / 5.0) * np.cos(j / 7.0) + 40 * k + rng.normal(0, 50, size)
    voxels[:3] = 0  # some exact zeros (the non-zero mask matters for one test)
    write_nifti(path, voxels.astype(np.float32), grid)
    return path


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


CASES = {
    "segmentation": lambda: (
        nnMambaSeg(in_ch=1, channels=16, blocks=2, number_classes=5),
        "nnMambaSeg",
        dict(in_ch=1, channels=16, blocks=2, number_classes=5, d_state=16, flavour="css"),
        manifests.segmentation(5),
    ),
    "landmarks": lambda: (
        nnMambaSeg(in_ch=1, channels=16, blocks=2, number_classes=3),
        "nnMambaSeg",
        dict(in_ch=1, channels=16, blocks=2, number_classes=3, d_state=16, flavour="css"),
        manifests.landmarks(3),
    ),
    "classification": lambda: (
        nnMambaEncoder(in_ch=1, channels=8, blocks=2, number_classes=1),
        "nnMambaEncoder",
        dict(in_ch=1, channels=8, blocks=2, number_classes=1, d_state=8),
        manifests.classification(),
    ),
}


@pytest.mark.parametrize("task", list(CASES))
def test_exported_package_matches_pytorch_in_mambanode_infer(task, tmp_path, mambanode_raw):
    torch.manual_seed(11)  # the seed decides the fresh weights
    model, architecture, constructor, manifest = CASES[task]()
    calibrated(model, in_ch=1, size=(32, 32, 32))
    ckpt = str(tmp_path / "model.pt")
    save_ours(ckpt, model, architecture, constructor, manifest, card="Freshly initialised (parity test).")
    package = str(tmp_path / "package")
    assert export.main(["ours", ckpt, package]) == 0
    run([mambanode_raw, "models", "verify", package])

    image = oblique_volume(str(tmp_path / "ct.nii.gz"), seed=3)
    raw = str(tmp_path / "raw.safetensors")
    cmd = [mambanode_raw, "infer", "--model", package, "--input", image, "--raw-output", raw, "--threads", "2"]
    if task == "segmentation":
        cmd += ["--output", str(tmp_path / "labels.nii.gz")]
    run(cmd)
    node = load_file(raw)

    # The node's network input is our preprocessing of the same file.
    voxels, grid = read_nifti(image)
    ours = prepare([voxels], grid, manifest).tensor[None]
    assert node["input"].shape == ours.shape, f"node input {node['input'].shape}, ours {ours.shape}"
    scale_in = max(1.0, float(np.abs(ours).max()))
    input_error = float(np.abs(node["input"] - ours).max())
    print(f"{task}: input {ours.shape}, max |node − ours| {input_error:.2e}")
    assert input_error <= 1e-4 * scale_in

    # The node's raw output is PyTorch's on that input.
    with torch.no_grad():
        expected = model(torch.from_numpy(node["input"])).numpy()
    assert node["output"].shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    error = float(np.abs(node["output"] - expected).max())
    print(
        f"{task}: output {expected.shape}, max |mambanode − PyTorch| {error:.3e}, max|PyTorch| {float(np.abs(expected).max()):.3g}, "
        f"tolerance {NETWORK_TOLERANCE * scale:.3e}"
    )
    assert error <= NETWORK_TOLERANCE * scale
