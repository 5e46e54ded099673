"""Trains an nnMamba network from a folder of cases and writes our checkpoint (`.pt`) for
export.py.

    train.py --spec SPEC.json --cases DIR --out model.pt [--time-limit MIN] [--iterations N] ...

SPEC.json is the package's model.json without `format` and `network` (name, task, inputs with
normalisation, target_spacing, patch_size, labels / landmarks / classification, algorithm): the
same manifest the node will use, so training prepares every case exactly as the node does
(nnmamba/preprocess.py mirrors the node's reorientation, resampling and normalisation).

--cases is a folder of cases or a pack of prepared ones (pack_cases.py, for a machine without
the NIfTI files). A case is a sub-folder of DIR holding one NIfTI per spec input, named
`<input name>.nii[.gz]`, and its truth: `labels.nii[.gz]` (segmentation, label values as the
spec's labels), or `truth.json` with `{"landmarks": {name: [x, y, z]}}` (LPS mm) or
`{"lesion": true|false}` (classification; the key is --truth-key).

Losses: segmentation CE + soft Dice on the softmax of the outputs; landmarks weighted MSE against
Gaussian heat-maps (peak 1, non-negative because the network ends in a ReLU; with --pre-relu on
the output before that ReLU, hinged at zero away from the landmarks); classification
BCE on the logit. Augmentation: random crops (a third centred on foreground for segmentation),
scaling, small rotations (in mm, about all axes), intensity scale/shift, Gaussian noise, flips
(never along left-right with --lateralised; never for landmarks, whose names are sided).
"""

import argparse
import json
import math
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nnmamba import nnMambaEncoder, nnMambaSeg, set_scan  # noqa: E402
from nnmamba.casepack import PackError, read_pack  # noqa: E402
from nnmamba.checkpoints import save_ours  # noqa: E402
from nnmamba.preprocess import labels_to_grid, patient_to_tensor_index, prepare, read_nifti  # noqa: E402


def find(folder, stem):
    for ext in (".nii.gz", ".nii"):
        path = os.path.join(folder, stem + ext)
        if os.path.exists(path):
            return path
    return None


def load_cases(root, spec, truth_key, crop_to_nonzero):
    """Every case prepared as the node would: (tensor [C, D, H, W], truth, name)."""
    task = spec["task"]
    cases = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        channels, grid = [], None
        for inp in spec["inputs"]:
            path = find(folder, inp["name"])
            if path is None:
                raise SystemExit(f"train.py: case {name}: no {inp['name']}.nii[.gz]")
            voxels, g = read_nifti(path)
            channels.append(voxels)
            grid = grid or g
        prepared = prepare(channels, grid, spec, crop_to_nonzero=crop_to_nonzero)
        if task == "segmentation":
            path = find(folder, "labels")
            if path is None:
                raise SystemExit(f"train.py: case {name}: no labels.nii[.gz]")
            labels, lgrid = read_nifti(path)
            truth = labels_to_grid(labels, lgrid, prepared)
            if truth.shape != prepared.tensor.shape[1:]:
                raise SystemExit(f"train.py: case {name}: labels grid differs from the image grid")
        else:
            with open(os.path.join(folder, "truth.json")) as f:
                data = json.load(f)
            if task == "landmarks":
                points = data.get("landmarks", data)
                truth = np.stack(
                    [
                        patient_to_tensor_index(points[m["name"]], prepared.grid)
                        for m in sorted(spec["landmarks"], key=lambda m: m["channel"])
                    ]
                )
            else:
                # [label, d, h, w, radius in voxels]: where the finding is, when the truth says so
                # (the phantom's lesion), for --aux-lesion; NaN otherwise.
                truth = np.full(5, np.nan)
                truth[0] = float(bool(data[truth_key]))
                centre, radius = data.get(f"{truth_key}_centre"), data.get(f"{truth_key}_radius_mm")
                if truth[0] and centre is not None and radius is not None:
                    truth[1:4] = patient_to_tensor_index(centre, prepared.grid)
                    truth[4] = radius / float(np.mean(spec["target_spacing"]))
        cases.append((prepared.tensor, truth, name))
    if not cases:
        raise SystemExit(f"train.py: no cases in {root}")
    return cases


def rotation(angles):
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


class Sampler:
    """Augmented patches [C, *patch] (and their truth) from prepared cases."""

    def __init__(self, cases, spec, args, rng):
        self.cases, self.spec, self.a, self.rng = cases, spec, args, rng
        self.device = torch.device(getattr(args, "device", "cpu"))
        self.on_device = {}  # case name -> (image, label map or None) on the device, moved once
        self.patch = np.array(args.patch)
        # (D, H, W) = (z, y, x); spacing per tensor axis.
        self.spacing = np.array(spec["target_spacing"][::-1], dtype=np.float64)
        flips = [] if spec["task"] == "landmarks" else [0, 1, 2]
        if args.lateralised:
            flips = [f for f in flips if f != 2]  # W is x: left-right
        self.flips = flips if args.flip else []

    def transform(self):
        """Patch voxel offset -> source voxel offset (3×3), in tensor axes, physically a rotation and scaling."""
        a = self.a
        s = self.rng.uniform(1 - a.scale, 1 + a.scale)
        r = rotation(np.radians(self.rng.uniform(-a.rotate, a.rotate, 3)))
        return np.diag(1 / self.spacing) @ r @ np.diag(self.spacing) * s

    def centre(self, tensor, truth):
        size = np.array(tensor.shape[1:])
        if self.spec["task"] == "segmentation" and self.rng.random() < self.a.foreground:
            # A class first, then one of its voxels (nnU-Net's oversampling): small structures are
            # seen as often as large ones.
            present = [v for v in np.unique(truth) if v > 0]
            if present:
                fg = np.argwhere(truth == present[self.rng.integers(len(present))])
                return fg[self.rng.integers(len(fg))].astype(np.float64)
        low = np.minimum(self.patch / 2, size / 2)
        centre = self.rng.uniform(low - 0.5, np.maximum(size - low, low) - 0.5)
        if self.spec["task"] == "landmarks" and self.rng.random() < 1 / 2:
            near = truth[self.rng.integers(len(truth))] + self.rng.normal(0, self.patch / 8)
            # Along an axis the patch covers whole, it stays centred as the node's single window is.
            centre = np.where(self.patch >= size, centre, near)
        return centre

    def sample(self, case, whole=False):
        tensor, truth, name = case
        task = self.spec["task"]
        if name not in self.on_device:
            labels = torch.from_numpy(truth)[None, None].float().to(self.device) if task == "segmentation" else None
            self.on_device[name] = (torch.from_numpy(tensor)[None].float().to(self.device), labels)
        x, labels = self.on_device[name]
        size = np.array(tensor.shape[1:])
        out_size = size if whole else self.patch
        m = self.transform()
        centre = (size - 1) / 2 if whole else self.centre(tensor, truth)
        pc = (out_size - 1) / 2
        # grid_sample wants, per output voxel, the source position as (x=W, y=H, z=D) in [-1, 1].
        # Built where the image is: on a GPU this per-voxel arithmetic would otherwise dominate a step.
        on = dict(dtype=torch.float64, device=self.device)
        axes = [torch.arange(n, **on) - c for n, c in zip(out_size, pc)]
        d, h, w = torch.meshgrid(*axes, indexing="ij")
        offsets = torch.stack([d, h, w], dim=-1) @ torch.as_tensor(m, **on).T
        src = offsets + torch.as_tensor(centre, **on)
        norm = 2 * src / torch.as_tensor(np.maximum(size - 1, 1).astype(np.float64), **on) - 1
        grid = norm.flip(-1)[None].float()
        image = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0]
        if task == "segmentation":
            target = F.grid_sample(labels, grid, mode="nearest", padding_mode="zeros", align_corners=True)[0, 0].long()
        elif task == "landmarks":
            inv = np.linalg.inv(m)
            target = torch.from_numpy((truth - centre) @ inv.T + pc)  # landmark positions in the patch
        else:
            target = torch.from_numpy(truth.copy())
            if not np.isnan(truth[1]):
                target[1:4] = torch.from_numpy((truth[1:4] - centre) @ np.linalg.inv(m).T + pc)
                target[4] = truth[4] / np.cbrt(abs(np.linalg.det(m)))
        for axis in self.flips:
            if self.rng.random() < 0.5:
                image = image.flip(axis + 1)
                if task == "segmentation":
                    target = target.flip(axis)
                elif task == "classification":
                    target[1 + axis] = out_size[axis] - 1 - target[1 + axis]
        a = self.a
        scale = (
            torch.from_numpy(self.rng.uniform(1 - a.intensity, 1 + a.intensity, (image.shape[0], 1, 1, 1)))
            .float()
            .to(self.device)
        )
        shift = (
            torch.from_numpy(self.rng.uniform(-a.intensity, a.intensity, (image.shape[0], 1, 1, 1)))
            .float()
            .to(self.device)
        )
        image = image * scale + shift
        if a.noise > 0:
            image = image + torch.randn_like(image) * float(self.rng.uniform(0, a.noise))
        return image, target


def heatmaps(points, shape, sigma):
    """[K, D, H, W] Gaussians (peak 1) at continuous (d, h, w) points."""
    axes = [torch.arange(n, dtype=torch.float32, device=points.device) for n in shape]
    d, h, w = torch.meshgrid(*axes, indexing="ij")
    out = []
    for p in points.float():
        r2 = (d - p[0]) ** 2 + (h - p[1]) ** 2 + (w - p[2]) ** 2
        out.append(torch.exp(-r2 / (2 * sigma**2)))
    return torch.stack(out)


def spatial_softmax_loss(output, maps, points):
    """Landmarks as distributions: per channel, the cross-entropy of the softmax of `output` over
    the patch's voxels against the heat-map normalised to sum 1 (channels whose landmark lies
    outside the patch are left out), plus a hinge that keeps each landmark's voxel at or above 1 so
    the node's ReLU and argmax still see the peak. Only relative values count, so a spatially
    constant map — the collapse of the plain heat-map losses — scores only chance (log of the voxel
    count) instead of a near-zero loss."""
    b, k = output.shape[:2]
    logits = output.reshape(b, k, -1)
    target = maps.reshape(b, k, -1)
    mass = target.sum(-1)
    inside = mass > 1e-3
    ce = -(target / mass.clamp_min(1e-6)[..., None] * logits.log_softmax(-1)).sum(-1)
    shape = torch.tensor(output.shape[2:], device=output.device)
    nearest = points.round().long()
    valid = ((nearest >= 0) & (nearest < shape)).all(-1) & inside
    peak = torch.zeros_like(ce)
    for i in range(b):
        for c in range(k):
            if valid[i, c]:
                d, h, w = nearest[i, c]
                peak[i, c] = F.relu(1 - output[i, c, d, h, w]) ** 2
    return (ce * inside).sum() / inside.sum().clamp_min(1) + (peak * valid).sum() / valid.sum().clamp_min(1)


def loss_for(task, output, targets, classes, sigma, pre_relu=False, landmark_loss="mse"):
    if task == "segmentation":
        ce = F.cross_entropy(output, targets)
        probs = output.softmax(1)
        onehot = F.one_hot(targets, classes).permute(0, 4, 1, 2, 3).float()
        dims = (0, 2, 3, 4)
        inter = (probs * onehot).sum(dims)[1:]
        denom = (probs + onehot).sum(dims)[1:]
        dice = (2 * inter + 1e-5) / (denom + 1e-5)
        # Soft Dice over the foreground classes present in the batch only: an absent class's term
        # could only push its output down, and with the network's final ReLU a channel pushed below
        # zero everywhere gets no gradient again.
        present = onehot.sum(dims)[1:] > 0
        return ce + (1 - dice[present].mean()) if present.any() else ce
    if task == "landmarks":
        maps = torch.stack([heatmaps(t, output.shape[2:], sigma) for t in targets])
        if landmark_loss == "softmax":
            return spatial_softmax_loss(output, maps, targets)
        if pre_relu:
            # `output` is the last BatchNorm's output, before the network's final ReLU: around each
            # landmark it must equal the heat-map, elsewhere it only has to stay at or below zero
            # (the ReLU makes that 0). Unlike an MSE after the ReLU, a peak whose pre-activation
            # went negative still gets a gradient, so no channel can die.
            near = maps > 0.01
            inside = (1 + 20 * maps) * (output - maps) ** 2
            outside = F.relu(output) ** 2
            return torch.where(near, inside, outside).mean()
        weight = 1 + 10 * maps
        return (weight * (output - maps) ** 2).mean()
    return F.binary_cross_entropy_with_logits(output[:, 0], targets[..., 0].float().view(-1))


def lesion_distance(target, input_shape, cells):
    """Distance (input voxels, CPU float64) from each cell centre of a stage's output grid to the
    lesion centre of a classification target [label, d, h, w, radius], and the stage's stride."""
    target = target.detach().cpu().double()
    stride = torch.tensor(input_shape, dtype=torch.float64) / torch.tensor(cells, dtype=torch.float64)
    axes = [(torch.arange(n, dtype=torch.float64) + 0.5) * s - 0.5 for n, s in zip(cells, stride)]
    d, h, w = torch.meshgrid(*axes, indexing="ij")
    return ((d - target[1]) ** 2 + (h - target[2]) ** 2 + (w - target[3]) ** 2).sqrt(), stride


class LesionAux(torch.nn.Module):
    """--aux-lesion: a 1×1×1 head on the encoder's deepest features (layer3, stride 16) trained to
    mark the cells holding the finding. Training only: it is not part of the network the node
    runs, and it only shapes the features that the classifier's mean pooling then reads (with a
    lesion filling one cell of dozens, the classification loss alone barely reaches them)."""

    def __init__(self, model, channels):
        super().__init__()
        self.head = torch.nn.Conv3d(channels, 1, 1)
        self.features = None
        model.layer3.register_forward_hook(lambda _m, _i, out: setattr(self, "features", out))

    def loss(self, target, input_shape, index=0):
        logits = self.head(self.features)[index, 0]
        cells = torch.zeros_like(logits)
        if not torch.isnan(target[1]):
            distance, stride = lesion_distance(target, input_shape, logits.shape)
            cells = (distance <= target[4] + stride.max() / 2).float().to(logits.device)
        return F.binary_cross_entropy_with_logits(logits, cells, pos_weight=torch.tensor(20.0, device=logits.device))


class LesionChannel(torch.nn.Module):
    """--lesion-channel: channel 0 of an encoder stage's output (`--lesion-layer`, default layer2 at
    stride 8) is trained, before the stage's final ReLU, to mark the finding: ≥ 1 in the cells the
    lesion touches, ≤ −0.5 in the cells clear of it (the ring between is left free). After the ReLU
    that channel is zero without a lesion and positive with one, so its global mean, one of the
    classifier's inputs, carries the finding undiluted by the anatomy around it; LesionAux's
    separate head gave the pooled features nothing of the kind. No parameters of its own: the
    network the node runs is unchanged."""

    def __init__(self, model, layer):
        super().__init__()
        block = getattr(model, layer)[-1]
        self.block, self.residual, self.input = block, None, None
        block.register_forward_pre_hook(lambda _m, args: setattr(self, "input", args[0]))
        block.bn2.register_forward_hook(lambda _m, _i, out: setattr(self, "residual", out))

    def pre_activation(self, index=0):
        """Channel 0 of the block's output before its ReLU (BasicBlock.forward without the ReLU),
        for batch item `index`."""
        x, t = self.input, self.residual
        if self.block.mamba_layer is not None:
            t = t + self.block.mamba_layer(x)
        identity = self.block.downsample(x) if self.block.downsample is not None else x
        return (t + identity)[index, 0]

    # Cells clear of the lesion are pushed to ≤ −MARGIN, not just ≤ 0: small positives there cost
    # almost nothing per cell but, summed over hundreds of cells, swamp the lesion in the mean
    # (a first 60-min run without it left a quarter of all cells positive, AUC 0.63).
    MARGIN = 0.5

    def loss(self, target, input_shape, index=0):
        pre = self.pre_activation(index)
        if torch.isnan(target[1]):
            return (F.relu(pre + self.MARGIN) ** 2).mean()
        distance, stride = lesion_distance(target, input_shape, pre.shape)
        radius = float(target[4])
        touched = (distance <= radius + stride.max() / 2).to(pre.device)
        clear = (distance > radius + stride.max()).to(pre.device)
        # Each side averaged on its own: a handful of lesion cells weigh as much as the hundreds clear of it.
        inside = (F.relu(1 - pre[touched]) ** 2).mean() if touched.any() else pre.sum() * 0
        outside = (F.relu(pre[clear] + self.MARGIN) ** 2).mean()
        return inside + outside


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--spec", required=True, help="model.json without format/network (see Tools/README.md)")
    p.add_argument("--cases", required=True, help="folder of case sub-folders, or a pack of them (pack_cases.py)")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--patch", type=int, nargs=3, help="training patch (D, H, W); default: the spec's patch_size")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--iterations", type=int, default=100000, help="stop after this many steps")
    p.add_argument("--time-limit", type=float, default=60, help="minutes; training stops and saves when reached")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=0.15, help="random scaling ± this fraction")
    p.add_argument("--rotate", type=float, default=10, help="random rotation ± degrees about each axis")
    p.add_argument("--intensity", type=float, default=0.1, help="intensity scale and shift ± this")
    p.add_argument("--noise", type=float, default=0.05, help="Gaussian noise σ up to this (normalised units)")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="no random flips at all")
    p.add_argument("--lateralised", action="store_true", help="no left-right flips (sided anatomy)")
    p.add_argument(
        "--foreground",
        type=float,
        default=1 / 3,
        help="segmentation: fraction of patches centred on a foreground class (chosen uniformly)",
    )
    p.add_argument("--sigma", type=float, default=2.0, help="heat-map σ in voxels (landmarks)")
    p.add_argument(
        "--pre-relu",
        action="store_true",
        help="landmarks: train the heat-maps before the final ReLU (hinge below zero away from the landmark)",
    )
    p.add_argument(
        "--landmark-loss",
        choices=["mse", "softmax"],
        default="mse",
        help="landmarks: weighted heat-map MSE, or per-channel spatial softmax cross-entropy (use with --pre-relu)",
    )
    p.add_argument(
        "--aux-lesion",
        type=float,
        default=0,
        help="classification: weight of the training-only lesion-location loss (truth.json "
        "<truth-key>_centre and _radius_mm)",
    )
    p.add_argument(
        "--lesion-channel",
        type=float,
        default=0,
        help="classification: weight of the loss that makes channel 0 of --lesion-layer mark the "
        "finding (truth.json <truth-key>_centre and _radius_mm)",
    )
    p.add_argument(
        "--lesion-layer",
        default="layer2",
        choices=["layer1", "layer2", "layer3"],
        help="classification: the encoder stage whose channel 0 --lesion-channel trains",
    )
    p.add_argument(
        "--classifier-weight",
        type=float,
        default=1.0,
        help="classification: weight of the BCE (0 with --aux-lesion trains the features alone first)",
    )
    p.add_argument(
        "--train-only",
        metavar="PREFIX",
        help="optimise only the parameters whose state_dict names start with PREFIX (e.g. mlp.); the "
        "rest is frozen, its BatchNorm statistics too",
    )
    p.add_argument(
        "--frozen-bn",
        action="store_true",
        help="every BatchNorm in eval mode (statistics from --init, affine parameters still "
        "trained): with one whole volume per step, per-volume statistics normalise away "
        "what the classifier's global means must carry",
    )
    p.add_argument("--reset", metavar="PREFIX", help="re-initialise the modules under PREFIX after --init")
    p.add_argument("--truth-key", default="lesion", help="truth.json key of the class (classification)")
    p.add_argument("--crop-to-nonzero", action="store_true", help="as the node's --crop-to-non-zero")
    p.add_argument("--init", help="start from this checkpoint's weights (ours)")
    p.add_argument("--chunk", type=int, help="selective-scan chunk length (default ≈ √L per call)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--device", default="cpu", help="torch device to train on (cpu, cuda); the checkpoint is written for the CPU"
    )
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument(
        "--save-every",
        type=float,
        metavar="MIN",
        help="also write --out every MIN minutes (atomically), so a long run can be evaluated "
        "while it trains and survives being stopped",
    )
    p.add_argument(
        "--keep-snapshots",
        action="store_true",
        help="with --save-every: also keep each of those saves as OUT-stepN.pt (to choose among later)",
    )
    a = p.parse_args(argv)

    torch.set_num_threads(a.threads)
    if a.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed shapes (whole volumes): pick the fastest kernels once
    set_scan("chunked", chunk=a.chunk)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    with open(a.spec) as f:
        spec = json.load(f)
    task = spec["task"]
    a.patch = a.patch or spec["patch_size"]
    start = time.time()
    if os.path.isfile(a.cases):
        try:
            cases = read_pack(a.cases, spec, a.crop_to_nonzero, a.truth_key)
        except PackError as error:
            raise SystemExit(f"train.py: {error}")
    else:
        cases = load_cases(a.cases, spec, a.truth_key, a.crop_to_nonzero)
    print(f"{len(cases)} cases prepared in {time.time() - start:.1f} s", flush=True)

    in_ch = len(spec["inputs"])
    if task == "classification":
        architecture, constructor = (
            "nnMambaEncoder",
            dict(in_ch=in_ch, channels=a.channels, blocks=a.blocks, number_classes=1, d_state=8),
        )
        model = nnMambaEncoder(**constructor)
    else:
        outputs = (
            max(l["value"] for l in spec["labels"]) + 1
            if task == "segmentation"
            else max(m["channel"] for m in spec["landmarks"]) + 1
        )
        architecture, constructor = (
            "nnMambaSeg",
            dict(in_ch=in_ch, channels=a.channels, blocks=a.blocks, number_classes=outputs, d_state=16, flavour="css"),
        )
        model = nnMambaSeg(**constructor)
    if a.init:
        model.load_state_dict(torch.load(a.init, map_location="cpu", weights_only=True)["state_dict"])
    if a.pre_relu:
        if task != "landmarks":
            raise SystemExit("train.py: --pre-relu is for landmarks")
        # The ReLU has no parameters: swapping it for the identity leaves the state_dict (and so the
        # exported package, which the node runs with its ReLU) unchanged.
        model.conv8.conv[5] = torch.nn.Identity()
    model.to(a.device)
    if a.reset:
        for name, module in model.named_modules():
            if name.startswith(a.reset.rstrip(".")) and hasattr(module, "reset_parameters"):
                module.reset_parameters()
    frozen = []
    if a.train_only:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(a.train_only))
        frozen = [
            m
            for n, m in model.named_modules()
            if n and not n.startswith(a.train_only.rstrip(".")) and isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        ]
    parameters = [p for p in model.parameters() if p.requires_grad]
    aux = None
    if a.aux_lesion > 0:
        if task != "classification":
            raise SystemExit("train.py: --aux-lesion is for classification")
        aux = LesionAux(model, 8 * a.channels).to(a.device)
        parameters += list(aux.parameters())
    marker = None
    if a.lesion_channel > 0:
        if task != "classification":
            raise SystemExit("train.py: --lesion-channel is for classification")
        marker = LesionChannel(model, a.lesion_layer)
    optimiser = torch.optim.AdamW(parameters, lr=a.lr, weight_decay=a.weight_decay)
    sampler = Sampler(cases, spec, a, rng)
    limit = a.time_limit * 60
    if a.frozen_bn:
        if not a.init:
            raise SystemExit("train.py: --frozen-bn needs --init (the statistics to keep)")
        frozen += [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    model.train()
    for module in frozen:
        module.eval()  # frozen features: their BatchNorm statistics stay as trained
    train_start = time.time()
    losses, step = [], 0

    def checkpoint():
        """Writes --out as it stands (atomically: a reader never sees half a file). The state_dict
        is the exported network's in every mode: --pre-relu swaps a parameterless ReLU only."""
        minutes = (time.time() - train_start) / 60
        card = (
            f"## Training\n\n- data: {len(cases)} cases from `{a.cases}`\n"
            f"- network: {architecture} {constructor}\n"
            f"- augmentation: scale ±{a.scale}, rotation ±{a.rotate}°, intensity ±{a.intensity}, noise σ ≤ {a.noise}, "
            f"flips {'on axes ' + str(sampler.flips) if sampler.flips else 'off'}\n"
            f"- patch {list(a.patch)}, batch {a.batch}, AdamW lr {a.lr} (poly), seed {a.seed}\n"
            f"- {step} steps in {minutes:.1f} min; final loss (mean of the last {min(len(losses), a.log_every)}) "
            f"{np.mean(losses[-a.log_every :]) if losses else float('nan'):.4f}\n"
            f"- command: `Tools/train.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
        )
        manifest = {k: v for k, v in spec.items() if k not in ("format", "network")}
        partial = a.out + ".partial"
        save_ours(partial, model, architecture, constructor, manifest, card=card)
        os.replace(partial, a.out)
        if a.keep_snapshots:
            stem = a.out[:-3] if a.out.endswith(".pt") else a.out
            shutil.copyfile(a.out, f"{stem}-step{step}.pt")
        return minutes

    def volume_loss(output, target, shape, index):
        """One whole volume's classification loss (BCE and the lesion aids on batch item `index`),
        as its share of the step's mean."""
        loss = a.classifier_weight * loss_for(task, output, target.to(a.device), 1, a.sigma)
        if aux is not None:
            loss = loss + a.aux_lesion * aux.loss(target, shape, index)
        if marker is not None:
            loss = loss + a.lesion_channel * marker.loss(target, shape, index)
        return loss / a.batch

    last_save = train_start
    while step < a.iterations and time.time() - train_start < limit:
        progress = max(step / a.iterations, (time.time() - train_start) / limit)
        for group in optimiser.param_groups:
            group["lr"] = a.lr * (1 - min(progress, 0.999)) ** 0.9  # poly decay, as nnU-Net
        picks = rng.integers(len(cases), size=a.batch)
        optimiser.zero_grad()
        if task == "classification" and a.frozen_bn and len({cases[i][0].shape for i in picks}) == 1:
            # With every BatchNorm frozen the items of a batch no longer affect one another, so one
            # batched forward computes exactly the per-volume losses below, faster (on a GPU, much).
            pairs = [sampler.sample(cases[i], whole=True) for i in picks]
            output = model(torch.stack([x for x, _ in pairs]))
            loss = sum(
                volume_loss(output[j : j + 1], target, image.shape[1:], j) for j, (image, target) in enumerate(pairs)
            )
            loss.backward()
            total = loss.item()
        elif task == "classification":
            # The node runs the encoder on the whole volume; so does training (one at a time).
            total = 0.0
            for i in picks:
                image, target = sampler.sample(cases[i], whole=True)
                loss = volume_loss(model(image[None]), target, image.shape[1:], 0)
                loss.backward()
                total += loss.item()
        else:
            pairs = [sampler.sample(cases[i]) for i in picks]
            images = torch.stack([x for x, _ in pairs])
            targets = torch.stack([t for _, t in pairs]).to(a.device)
            loss = loss_for(
                task, model(images), targets, constructor["number_classes"], a.sigma, a.pre_relu, a.landmark_loss
            )
            loss.backward()
            total = loss.item()
        torch.nn.utils.clip_grad_norm_(parameters, 12.0)
        optimiser.step()
        if not math.isfinite(total):
            raise SystemExit(f"train.py: loss is {total} at step {step}")
        losses.append(total)
        step += 1
        if step % a.log_every == 0 or step == 1:
            recent = np.mean(losses[-a.log_every :])
            print(
                f"step {step} loss {recent:.4f} lr {optimiser.param_groups[0]['lr']:.2e} "
                f"elapsed {time.time() - train_start:.0f} s",
                flush=True,
            )
        if a.save_every and time.time() - last_save >= a.save_every * 60:
            checkpoint()
            last_save = time.time()
            print(f"saved {a.out} at step {step}", flush=True)
    if a.pre_relu:
        model.conv8.conv[5] = torch.nn.ReLU()
    model.eval()
    minutes = checkpoint()
    print(f"wrote {a.out} after {step} steps ({minutes:.1f} min)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
