"""The Mamba v1 block (docs/nnmamba-architecture.md §2.4), parameter names as state-spaces/mamba."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .scan import selective_scan_chunked, selective_scan_ref

# Which scan a Mamba block uses: "ref" (token by token) or "chunked" (for training).
_scan = {"kind": "chunked", "chunk": None}


def set_scan(kind, chunk=None):
    """Selects the scan every Mamba block uses from now on ("ref" or "chunked")."""
    if kind not in ("ref", "chunked"):
        raise ValueError(f"unknown scan {kind!r}")
    _scan["kind"], _scan["chunk"] = kind, chunk


def selective_scan(*args, **kwargs):
    if _scan["kind"] == "ref":
        return selective_scan_ref(*args, **kwargs)
    return selective_scan_chunked(*args, chunk=_scan["chunk"], **kwargs)


class Mamba(nn.Module):
    """x [B, L, d_model] -> [B, L, d_model]: in_proj (x, gate z) -> causal depthwise conv + SiLU
    -> x_proj (dt, B, C) -> selective scan -> gate by SiLU(z) -> out_proj."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_min=1e-3, dt_max=0.1, dt_floor=1e-4):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16)
        # Parameters first: the state_dict lists A_log and D before the sub-modules, as upstream.
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        # Mamba's own initialisation of the time step (only matters for training from scratch).
        bound = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def forward(self, x, trace=None):
        length = x.shape[1]
        xz = self.in_proj(x).transpose(1, 2)  # [B, 2·d_inner, L]
        u, z = xz.chunk(2, dim=1)
        u = F.silu(self.conv1d(u)[..., :length])  # causal: keep the first L outputs
        x_dbl = self.x_proj(u.transpose(1, 2))  # [B, L, dt_rank + 2·d_state]
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight).transpose(1, 2)  # bias goes inside the softplus
        A = -torch.exp(self.A_log)
        y = selective_scan(
            u,
            delta,
            A,
            B.transpose(1, 2),
            C.transpose(1, 2),
            self.D,
            z,
            delta_bias=self.dt_proj.bias,
            delta_softplus=True,
        )
        if trace is not None:
            trace.update(
                xz=xz, x_conv_silu=u, x_dbl=x_dbl, delta_softplus=F.softplus(delta + self.dt_proj.bias[..., None])
            )
        return self.out_proj(y.transpose(1, 2))
