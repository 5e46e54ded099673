"""nnMambaSeg (segmentation and landmark heat-maps) and nnMambaEncoder (classification),
docs/nnmamba-architecture.md §3 and §4; state_dict keys as Appendix A and B."""

import torch
import torch.nn as nn

from .layers import CLS, CSS, NNUNET, Attentionlayer, DoubleConv, MambaLayer, make_res_layer, upsample


class nnMambaSeg(nn.Module):
    """[B, in_ch, D, H, W] (each a multiple of 16) -> [B, number_classes, D, H, W], all ≥ 0.

    flavour "css" is the root nnMamba.py (four-pass MambaLayer); "nnunet" the nnU-Net variant
    (single-pass MambaLayer and the deep-supervision heads ds1…ds3, used in training only;
    `ds_heads=False` leaves them out, as a package does)."""

    def __init__(self, in_ch=1, channels=32, blocks=3, number_classes=6, d_state=16, flavour=CSS, ds_heads=None):
        super().__init__()
        c = channels
        self.flavour = flavour
        self.in_conv = DoubleConv(in_ch, c, stride=2)
        self.att1 = Attentionlayer(c)
        self.layer1 = make_res_layer(c, 2 * c, blocks, 2, MambaLayer(2 * c, d_state, flavour=flavour))
        self.att2 = Attentionlayer(2 * c)
        self.layer2 = make_res_layer(2 * c, 4 * c, blocks, 2, MambaLayer(4 * c, d_state, flavour=flavour))
        self.att3 = Attentionlayer(4 * c)
        self.layer3 = make_res_layer(4 * c, 8 * c, blocks, 2, MambaLayer(8 * c, d_state, flavour=flavour))
        self.conv5 = DoubleConv(12 * c, 4 * c)
        self.conv6 = DoubleConv(6 * c, 2 * c)
        self.conv7 = DoubleConv(3 * c, c)
        self.conv8 = DoubleConv(c, number_classes)
        if ds_heads if ds_heads is not None else flavour == NNUNET:
            self.ds1_cls_conv = nn.Conv3d(c, number_classes, 1)
            self.ds2_cls_conv = nn.Conv3d(2 * c, number_classes, 1)
            self.ds3_cls_conv = nn.Conv3d(4 * c, number_classes, 1)

    @staticmethod
    def _gated(skip, att):
        gate = att(skip.mean(dim=(2, 3, 4)))  # [B, C, 1]
        return skip * gate[..., None, None]

    def forward(self, x, deep_supervision=False):
        c1 = self.in_conv(x)
        c2 = self.layer1(c1)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.conv5(torch.cat([upsample(c4), self._gated(c3, self.att3)], dim=1))
        c6 = self.conv6(torch.cat([upsample(c5), self._gated(c2, self.att2)], dim=1))
        c7 = self.conv7(torch.cat([upsample(c6), self._gated(c1, self.att1)], dim=1))
        out = self.conv8(upsample(c7))
        if deep_supervision and hasattr(self, "ds1_cls_conv"):
            return out, self.ds1_cls_conv(c7), self.ds2_cls_conv(c6), self.ds3_cls_conv(c5)
        return out


class nnMambaEncoder(nn.Module):
    """[B, in_ch, D, H, W] (any size) -> [B, number_classes] logits."""

    def __init__(self, in_ch=1, channels=32, blocks=3, number_classes=1, d_state=8):
        super().__init__()
        c = channels
        self.in_conv = DoubleConv(in_ch, c, stride=2)
        self.mamba_layer_stem = MambaLayer(c, d_state, flavour=CLS)
        self.layer1 = make_res_layer(c, 2 * c, blocks, 2)
        self.layer2 = make_res_layer(2 * c, 4 * c, blocks, 2)
        self.layer3 = make_res_layer(4 * c, 8 * c, blocks, 2)
        self.mlp = nn.Sequential(nn.Linear(14 * c, c), nn.ReLU(), nn.Dropout(0.5), nn.Linear(c, number_classes))

    def forward(self, x):
        c1 = self.in_conv(x)
        c1 = c1 + self.mamba_layer_stem(c1)
        c2 = self.layer1(c1)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        pooled = torch.cat([t.mean(dim=(2, 3, 4)) for t in (c2, c3, c4)], dim=1)
        return self.mlp(pooled)


def build(architecture, **config):
    """A network from the manifest's architecture name and constructor arguments."""
    if architecture == "nnMambaSeg":
        return nnMambaSeg(**config)
    if architecture == "nnMambaEncoder":
        return nnMambaEncoder(**config)
    raise ValueError(f"unknown architecture {architecture!r}")
