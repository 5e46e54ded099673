"""train.py on tiny synthetic cases (smoke runs of a few steps), and the geometry of its data:
truth lands on the same voxels as the image however the NIfTI is stored, and augmented landmark
targets follow the augmented image."""

import json
import math
import os
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import export
import manifests
import train
from conftest import MAMBANODE
from nnmamba.preprocess import Grid, write_nifti

# Stored with i along −x and j along −y (RAS-like storage, as many NIfTI writers do).
DIRECTION = np.diag([-1.0, -1.0, 1.0])


def make_cases(root, task, count=2, size=(32, 32, 16), spacing=(2.0, 2.0, 4.0)):
    """Cases with a bright ball (label 1) and a dim box (label 2); landmarks at their centres;
    a lesion (the ball) in every other case."""
    size = np.array(size)
    grid = Grid(size, np.array(spacing), np.array([30.0, 20.0, -10.0]), DIRECTION)
    i, j, k = np.meshgrid(*[np.arange(n) for n in size], indexing="ij")
    for n in range(count):
        case = root / f"case{n}"
        case.mkdir(parents=True)
        centre = np.array([10 + 3 * n, 12, 7])
        ball = ((i - centre[0]) ** 2 + (j - centre[1]) ** 2 + ((k - centre[2]) * 2) ** 2) <= 25
        box = (i >= 20) & (i < 28) & (j >= 4) & (j < 12) & (k >= 3) & (k < 9)
        lesion = task != "classification" or n % 2 == 0
        image = np.where(box, 60.0, 0.0) + (np.where(ball, 200.0, 0.0) if lesion else 0)
        image += np.random.default_rng(n).normal(0, 5, size)
        write_nifti(str(case / "ct.nii.gz"), image, grid)
        write_nifti(str(case / "labels.nii.gz"), np.where(ball, 1, np.where(box, 2, 0)), grid, dtype=np.uint8)
        truth = {
            "lesion": bool(lesion),
            "lesion_centre": grid.patient(centre).tolist(),
            "lesion_radius_mm": 10.0,
            "landmarks": {"L0": grid.patient(centre).tolist(), "L1": grid.patient([23.5, 7.5, 5.5]).tolist()},
        }
        (case / "truth.json").write_text(json.dumps(truth))
    return root


def spec_for(task, tmp_path):
    if task == "segmentation":
        spec = manifests.segmentation(3, normalization={"kind": "zscore"})
    elif task == "landmarks":
        spec = manifests.landmarks(2)
    else:
        spec = manifests.classification()
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path), spec


@pytest.mark.parametrize("task", ["segmentation", "landmarks", "classification"])
def test_a_short_training_writes_an_exportable_checkpoint(task, tmp_path, capsys):
    cases = make_cases(tmp_path / "cases", task)
    spec_path, spec = spec_for(task, tmp_path)
    ckpt = str(tmp_path / "model.pt")
    args = [
        "--spec",
        spec_path,
        "--cases",
        str(cases),
        "--out",
        ckpt,
        "--iterations",
        "2",
        "--log-every",
        "1",
        "--patch",
        "32",
        "32",
        "32",
        "--batch",
        "2",
        "--seed",
        "4",
        "--time-limit",
        "2",
    ]
    assert train.main(args) == 0
    log = capsys.readouterr().out
    losses = [float(line.split()[3]) for line in log.splitlines() if line.startswith("step ")]
    assert len(losses) == 2 and all(np.isfinite(losses)), log
    saved = torch.load(ckpt, weights_only=True)
    assert saved["config"]["manifest"]["task"] == task
    assert "seed 4" in saved["config"]["card"]
    package = str(tmp_path / "package")
    assert export.main(["ours", ckpt, package]) == 0
    assert "## Training" in (tmp_path / "package" / "README.md").read_text()
    if os.access(MAMBANODE, os.X_OK):  # the package check needs the binary; the rest does not
        r = subprocess.run([MAMBANODE, "models", "verify", package], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr


def test_training_is_seeded(tmp_path):
    cases = make_cases(tmp_path / "cases", "segmentation")
    spec_path, _ = spec_for("segmentation", tmp_path)
    states = []
    for n in range(2):
        out = str(tmp_path / f"m{n}.pt")
        train.main(
            [
                "--spec",
                spec_path,
                "--cases",
                str(cases),
                "--out",
                out,
                "--iterations",
                "1",
                "--batch",
                "1",
                "--patch",
                "32",
                "32",
                "32",
                "--seed",
                "9",
            ]
        )
        states.append(torch.load(out, weights_only=True)["state_dict"])
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_labels_land_on_the_image_voxels_of_a_non_canonical_nifti(tmp_path):
    cases = make_cases(tmp_path / "cases", "segmentation", count=1)
    _, spec = spec_for("segmentation", tmp_path)
    spec["inputs"][0]["normalization"] = {"kind": "none"}
    [(tensor, labels, _)] = train.load_cases(str(cases), spec, "lesion", False)
    assert tensor.shape[1:] == labels.shape == (32, 32, 32)  # 16 slices of 4 mm -> 32 of 2 mm
    assert tensor[0][labels == 1].mean() > 150 and tensor[0][labels == 0].mean() < 30


def test_augmented_landmark_targets_follow_the_image(tmp_path):
    """A single bright voxel at a landmark: after a random rotation/scaling/crop the target
    position is where the sampled image peaks."""
    cases = make_cases(tmp_path / "cases", "landmarks", count=1)
    _, spec = spec_for("landmarks", tmp_path)
    spec["inputs"][0]["normalization"] = {"kind": "none"}
    [(tensor, points, name)] = train.load_cases(str(cases), spec, "lesion", False)
    dot = np.zeros_like(tensor)
    p = np.rint(points[0]).astype(int)
    dot[0][tuple(p)] = 1000
    ns = type(
        "A", (), dict(patch=[32, 32, 32], scale=0.15, rotate=15, intensity=0.0, noise=0.0, flip=True, lateralised=False)
    )()
    sampler = train.Sampler([(dot, points - points[0] + p, name)], spec, ns, np.random.default_rng(1))
    checked = 0
    for _ in range(8):
        image, target = sampler.sample(sampler.cases[0])
        if image[0].max() > 0:  # the dot fell inside this patch
            peak = np.array(np.unravel_index(int(image[0].argmax()), image.shape[1:]))
            assert np.abs(peak - target[0].numpy()).max() <= 1.0, (peak, target[0])
            checked += 1
    assert checked >= 3


def test_pre_relu_landmark_loss_lifts_a_peak_the_relu_has_killed():
    """Pre-activations below zero everywhere: after the ReLU no gradient reaches them, so the plain
    heat-map loss could never raise the peak again; the --pre-relu loss pushes the landmark's
    voxel up and leaves the background (already at or below zero) alone."""
    targets = torch.tensor([[[4.0, 4.0, 4.0]]])
    pre = torch.full((1, 1, 9, 9, 9), -1.0, requires_grad=True)
    train.loss_for("landmarks", pre, targets, 1, 1.0, pre_relu=True).backward()
    assert pre.grad[0, 0, 4, 4, 4] < 0 and pre.grad[0, 0, 0, 0, 0] == 0
    after = torch.full((1, 1, 9, 9, 9), -1.0, requires_grad=True)
    train.loss_for("landmarks", torch.relu(after), targets, 1, 1.0).backward()
    assert after.grad.abs().max() == 0
    # Above zero away from the landmark is penalised.
    high = torch.full((1, 1, 9, 9, 9), 0.5, requires_grad=True)
    train.loss_for("landmarks", high, targets, 1, 1.0, pre_relu=True).backward()
    assert high.grad[0, 0, 0, 0, 0] > 0


def test_pre_relu_training_keeps_the_network_that_the_node_runs(tmp_path):
    cases = make_cases(tmp_path / "cases", "landmarks")
    spec_path, _ = spec_for("landmarks", tmp_path)
    ckpt = str(tmp_path / "model.pt")
    assert (
        train.main(
            [
                "--spec",
                spec_path,
                "--cases",
                str(cases),
                "--out",
                ckpt,
                "--iterations",
                "2",
                "--patch",
                "32",
                "32",
                "32",
                "--batch",
                "1",
                "--seed",
                "2",
                "--pre-relu",
            ]
        )
        == 0
    )
    saved = torch.load(ckpt, weights_only=True)
    assert set(saved["state_dict"]) == set(train.nnMambaSeg(**saved["config"]["constructor"]).state_dict())
    assert "--pre-relu" in saved["config"]["card"]


def test_aux_lesion_target_follows_the_augmented_image(tmp_path):
    """The lesion centre that --aux-lesion trains on moves with rotation, scaling and flips as the
    image does: the bright ball's centre of mass in the sampled image is where the target says."""
    cases = make_cases(tmp_path / "cases", "classification", count=1)
    _, spec = spec_for("classification", tmp_path)
    spec["inputs"][0]["normalization"] = {"kind": "none"}
    [(tensor, truth, name)] = train.load_cases(str(cases), spec, "lesion", False)
    assert truth[0] == 1 and not np.isnan(truth[1:]).any()
    ball = np.where(tensor > 120, tensor, 0).astype(np.float32)  # the lesion alone, without the box
    ns = type(
        "A", (), dict(patch=[32, 32, 32], scale=0.15, rotate=15, intensity=0.0, noise=0.0, flip=True, lateralised=False)
    )()
    sampler = train.Sampler([(ball, truth, name)], spec, ns, np.random.default_rng(3))
    for _ in range(6):
        image, target = sampler.sample(sampler.cases[0], whole=True)
        weights = image[0].numpy()
        grid = np.indices(weights.shape).reshape(3, -1)
        centre = (grid * weights.reshape(-1)).sum(1) / weights.sum()
        assert np.abs(centre - target[1:4].numpy()).max() < 1.0, (centre, target)


def test_a_short_classification_training_with_the_lesion_aid(tmp_path):
    cases = make_cases(tmp_path / "cases", "classification")
    spec_path, _ = spec_for("classification", tmp_path)
    ckpt = str(tmp_path / "model.pt")
    assert (
        train.main(
            [
                "--spec",
                spec_path,
                "--cases",
                str(cases),
                "--out",
                ckpt,
                "--iterations",
                "2",
                "--batch",
                "2",
                "--seed",
                "2",
                "--aux-lesion",
                "1",
            ]
        )
        == 0
    )
    saved = torch.load(ckpt, weights_only=True)
    # The training-only head is not part of the network the node runs.
    assert set(saved["state_dict"]) == set(train.nnMambaEncoder(**saved["config"]["constructor"]).state_dict())


def test_lesion_channel_reads_the_stage_output_before_its_relu():
    """The marker's pre-activation is exactly what the stage's ReLU turns into channel 0 of its
    output (so the classifier's pooled mean sees the marker), and its loss is low only for a map
    that is positive at the lesion and not elsewhere."""
    torch.manual_seed(0)
    model = train.nnMambaEncoder(in_ch=1, channels=8, blocks=2, number_classes=1, d_state=8).eval()
    marker = train.LesionChannel(model, "layer2")
    outputs = {}
    model.layer2.register_forward_hook(lambda _m, _i, out: outputs.setdefault("c3", out))
    image = torch.randn(1, 1, 32, 48, 48)
    model(image)
    pre = marker.pre_activation()
    assert pre.shape == outputs["c3"].shape[2:]
    assert torch.allclose(F.relu(pre), outputs["c3"][0, 0], atol=1e-6)
    assert (pre < 0).any() and (pre > 0).any()  # a real pre-activation, not the ReLU's output
    target = torch.tensor([1.0, 12.0, 20.0, 28.0, 3.0])  # [label, d, h, w, radius] in input voxels
    stride = 8
    cell = [int(v // stride) for v in target[1:4]]
    good = torch.full_like(pre, -1.0)
    good[tuple(cell)] = 2.0
    bad = torch.full_like(pre, -1.0)
    bad[0, 0, 0] = 2.0
    for candidate, expected in ((good, 0.0), (bad, None)):
        marker.pre_activation = lambda index=0, c=candidate: c
        value = marker.loss(target, image.shape[2:]).item()
        if expected is not None:
            assert value == expected
        else:
            assert value > 0.5
    # Without a lesion anything above zero costs.
    absent = torch.tensor([0.0, float("nan"), float("nan"), float("nan"), float("nan")])
    marker.pre_activation = lambda index=0: good
    assert marker.loss(absent, image.shape[2:]).item() > 0


def test_a_short_classification_training_with_the_lesion_channel(tmp_path):
    cases = make_cases(tmp_path / "cases", "classification")
    spec_path, _ = spec_for("classification", tmp_path)
    ckpt = str(tmp_path / "model.pt")
    assert (
        train.main(
            [
                "--spec",
                spec_path,
                "--cases",
                str(cases),
                "--out",
                ckpt,
                "--iterations",
                "2",
                "--batch",
                "2",
                "--seed",
                "2",
                "--lesion-channel",
                "1",
                "--classifier-weight",
                "0",
            ]
        )
        == 0
    )
    saved = torch.load(ckpt, weights_only=True)
    assert set(saved["state_dict"]) == set(train.nnMambaEncoder(**saved["config"]["constructor"]).state_dict())


def test_frozen_bn_keeps_the_statistics_and_trains_the_rest(tmp_path):
    """--frozen-bn: every BatchNorm's running statistics stay as --init had them (the node runs
    BatchNorm in eval mode, and so does such training); weights still change."""
    cases = make_cases(tmp_path / "cases", "classification")
    spec_path, _ = spec_for("classification", tmp_path)
    first, second = str(tmp_path / "a.pt"), str(tmp_path / "b.pt")
    assert (
        train.main(["--spec", spec_path, "--cases", str(cases), "--out", first, "--iterations", "2", "--seed", "1"])
        == 0
    )
    assert (
        train.main(
            [
                "--spec",
                spec_path,
                "--cases",
                str(cases),
                "--out",
                second,
                "--iterations",
                "2",
                "--seed",
                "2",
                "--init",
                first,
                "--frozen-bn",
                "--lesion-channel",
                "1",
            ]
        )
        == 0
    )
    a, b = (torch.load(path, weights_only=True)["state_dict"] for path in (first, second))
    statistics = [k for k in a if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert statistics and all(torch.equal(a[k], b[k]) for k in statistics)
    assert any(not torch.equal(a[k], b[k]) for k in a if k.endswith(".weight"))


def test_train_only_changes_just_that_part(tmp_path):
    """--init, --reset mlp. and --train-only mlp.: the classifier head is re-initialised and
    trained; every other tensor (BatchNorm statistics too) stays as the checkpoint had it."""
    cases = make_cases(tmp_path / "cases", "classification")
    spec_path, _ = spec_for("classification", tmp_path)
    first, second = str(tmp_path / "a.pt"), str(tmp_path / "b.pt")
    assert (
        train.main(["--spec", spec_path, "--cases", str(cases), "--out", first, "--iterations", "2", "--seed", "1"])
        == 0
    )
    assert (
        train.main(
            [
                "--spec",
                spec_path,
                "--cases",
                str(cases),
                "--out",
                second,
                "--iterations",
                "2",
                "--seed",
                "2",
                "--init",
                first,
                "--reset",
                "mlp.",
                "--train-only",
                "mlp.",
            ]
        )
        == 0
    )
    a, b = (torch.load(path, weights_only=True)["state_dict"] for path in (first, second))
    for key in a:
        assert torch.equal(a[key], b[key]) != key.startswith("mlp."), key


def test_spatial_softmax_loss_prefers_a_peak_at_the_landmark():
    """A map peaking at the landmark scores better than a constant map (chance) and than one
    peaking elsewhere; a landmark outside the patch is left out."""
    points = torch.tensor([[[4.0, 4.0, 4.0]]])
    maps = torch.stack([train.heatmaps(t, (9, 9, 9), 1.0) for t in points])
    constant = torch.zeros(1, 1, 9, 9, 9)
    right = 3 * maps.clone()
    wrong = 3 * torch.stack([train.heatmaps(torch.tensor([[1.0, 1.0, 1.0]]), (9, 9, 9), 1.0)])
    losses = [
        train.loss_for("landmarks", o, points, 1, 1.0, landmark_loss="softmax").item() for o in (constant, right, wrong)
    ]
    assert losses[1] < min(losses[0], losses[2])
    assert abs(losses[0] - (math.log(9**3) + 1)) < 1e-4, "constant: chance (log of the voxel count) + the peak hinge"
    outside = torch.tensor([[[40.0, 4.0, 4.0]]])
    far = torch.stack([train.heatmaps(t, (9, 9, 9), 1.0) for t in outside])
    assert train.spatial_softmax_loss(constant, far, outside).item() == 0


def test_save_every_writes_the_checkpoint_while_training(tmp_path, capsys):
    cases = make_cases(tmp_path / "cases", "classification")
    spec_path, _ = spec_for("classification", tmp_path)
    ckpt = tmp_path / "model.pt"
    # 1e-6 min: every step is past the interval, so each writes the checkpoint.
    assert (
        train.main(
            [
                "--spec",
                spec_path,
                "--cases",
                str(cases),
                "--out",
                str(ckpt),
                "--iterations",
                "3",
                "--batch",
                "1",
                "--seed",
                "5",
                "--save-every",
                "1e-6",
            ]
        )
        == 0
    )
    log = capsys.readouterr().out
    assert [line for line in log.splitlines() if line.startswith("saved ")] == [
        f"saved {ckpt} at step {n}" for n in (1, 2, 3)
    ], log
    assert "3 steps" in torch.load(ckpt, weights_only=True)["config"]["card"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases", "model.pt", "spec.json"]  # no .partial left


def test_keep_snapshots_keeps_each_save(tmp_path):
    cases = make_cases(tmp_path / "cases", "classification")
    spec_path, _ = spec_for("classification", tmp_path)
    ckpt = tmp_path / "model.pt"
    assert (
        train.main(
            [
                "--spec",
                spec_path,
                "--cases",
                str(cases),
                "--out",
                str(ckpt),
                "--iterations",
                "2",
                "--batch",
                "1",
                "--seed",
                "5",
                "--save-every",
                "1e-6",
                "--keep-snapshots",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in tmp_path.glob("model*.pt")) == ["model-step1.pt", "model-step2.pt", "model.pt"]
    first = torch.load(tmp_path / "model-step1.pt", weights_only=True)["state_dict"]
    last = torch.load(ckpt, weights_only=True)["state_dict"]
    assert any(not torch.equal(first[k], last[k]) for k in first)


def test_frozen_bn_batch_computes_what_each_volume_alone_does():
    """The batched classification step (--frozen-bn) relies on the items of a batch not affecting
    one another once every BatchNorm is frozen: the logits and the lesion channel's pre-activation
    of item j in a batch equal those of the volume run alone."""
    torch.manual_seed(3)
    model = train.nnMambaEncoder(in_ch=1, channels=8, blocks=2, number_classes=1, d_state=8).eval()
    marker = train.LesionChannel(model, "layer2")
    images = torch.randn(3, 1, 24, 32, 32)
    with torch.no_grad():
        batched = model(images)
        pre = [marker.pre_activation(j).clone() for j in range(3)]
        for j in range(3):
            alone = model(images[j : j + 1])
            assert torch.allclose(alone[0], batched[j], atol=1e-5)
            assert torch.allclose(marker.pre_activation(0), pre[j], atol=1e-5)
    assert not torch.allclose(pre[0], pre[1])  # a real difference between items, so the check can fail
