"""Building blocks of nnMamba (docs/nnmamba-architecture.md §2), parameter names as the official code."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .mamba import Mamba

# MambaLayer flavours (§2.5–2.7): four flipped passes (segmentation/landmarks, root nnMamba.py),
# one pass with the same residual and output conv (classification), one pass alone (nnU-Net).
CSS, CLS, NNUNET = "css", "cls", "nnunet"


def flatten(x):
    """[B, C, D, H, W] -> [B, L, C], token l = (d·H + h)·W + w."""
    return x.flatten(2).transpose(1, 2)


def unflatten(s, like):
    return s.transpose(1, 2).reshape(like.shape)


class MambaLayer(nn.Module):
    def __init__(self, dim, d_state=16, d_conv=4, expand=2, flavour=CSS):
        super().__init__()
        if flavour not in (CSS, CLS, NNUNET):
            raise ValueError(f"unknown MambaLayer flavour {flavour!r}")
        self.flavour = flavour
        # Registration order gives the official state_dict order (nin, nin2, norm2, norm, mamba).
        self.nin = nn.Conv3d(dim, dim, 1, bias=False)
        if flavour != NNUNET:
            self.nin2 = nn.Conv3d(dim, dim, 1, bias=False)
            self.norm2 = nn.BatchNorm3d(dim)
        self.norm = nn.BatchNorm3d(dim)
        self.mamba = Mamba(dim, d_state=d_state, d_conv=d_conv, expand=expand)

    def forward(self, x, trace=None):
        a = F.relu(self.norm(self.nin(x)))
        s = flatten(a)
        if self.flavour == CSS:
            passes = {
                "mamba_plain": self.mamba(s),
                "mamba_flip_channels": self.mamba(s.flip(-1)).flip(-1),
                "mamba_flip_tokens": self.mamba(s.flip(1)).flip(1),
                "mamba_flip_both": self.mamba(s.flip(1, -1)).flip(1, -1),
            }
            mixed = sum(passes.values()) / 4
            if trace is not None:
                trace.update(act_x=a, x_flat=s, css_mean=mixed, **passes)
        else:
            mixed = self.mamba(s)
        if self.flavour == NNUNET:
            return unflatten(mixed, a)
        return F.relu(self.norm2(self.nin2(unflatten(mixed, a) + a)))


class DoubleConv(nn.Module):
    """(3³ conv with bias -> BN -> ReLU) twice; the first conv has the stride."""

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv3d(in_ch, out_ch, 3, stride=stride, padding=1),
            nn.BatchNorm3d(out_ch),
            nn.ReLU(),
            nn.Conv3d(out_ch, out_ch, 3, padding=1),
            nn.BatchNorm3d(out_ch),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.conv(x)


class BasicBlock(nn.Module):
    """ResNet basic block; a Mamba layer, when given, is applied to the block input and added
    before the identity (§2.2)."""

    def __init__(self, inplanes, planes, stride=1, downsample=None, mamba_layer=None):
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = downsample
        self.mamba_layer = mamba_layer

    def forward(self, x):
        t = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.mamba_layer is not None:
            t = t + self.mamba_layer(x)
        identity = self.downsample(x) if self.downsample is not None else x
        return F.relu(t + identity)


def make_res_layer(inplanes, planes, blocks, stride, mamba_layer=None):
    """Block 0 changes width and stride (with a 1³ downsample branch); blocks 1… all share
    `mamba_layer` — one module, so one set of weights (§2.3)."""
    downsample = nn.Sequential(nn.Conv3d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes))
    layers = [BasicBlock(inplanes, planes, stride, downsample)]
    layers += [BasicBlock(planes, planes, mamba_layer=mamba_layer) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class Attentionlayer(nn.Module):
    """Skip gate from a pooled skip [B, C]: sigmoid(layer2(ReLU(layer1(v)))) as [B, C, 1] (§2.8)."""

    def __init__(self, dim, r=16):
        super().__init__()
        self.layer1 = nn.Linear(dim, dim // r)
        self.layer2 = nn.Linear(dim // r, dim)

    def forward(self, v):
        return torch.sigmoid(self.layer2(F.relu(self.layer1(v)))).unsqueeze(-1)


def upsample(x):
    """Trilinear ×2, align_corners=False (§2.9)."""
    return F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=False)
