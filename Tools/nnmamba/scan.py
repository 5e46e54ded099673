"""The selective scan of Mamba v1 (docs/nnmamba-architecture.md §2.4, step 5), two ways.

Both compute, per batch item b, channel d and state n, with h starting at 0:

    δ = softplus(delta + delta_bias)                     (threshold 20, as PyTorch)
    h[l] = exp(δ[l]·A[d,n]) · h[l−1] + δ[l] · B[l,n] · u[l]
    y[l] = Σ_n C[l,n] · h[l] + D[d] · u[l],   then y · SiLU(z)

`selective_scan_ref` walks the tokens one by one, exactly the recurrence: it is the reference the
golden fixtures were computed with. `selective_scan_chunked` computes the same numbers in about
2√L vectorised steps instead of L, so autograd records a few hundred nodes instead of one small
node per token per operation; that is what makes CPU training practical.

Shapes: u, delta, z [B, D, L]; A [D, N]; B, C [B, N, L]; D, delta_bias [D]. Returns [B, D, L].
"""

import math

import torch
import torch.nn.functional as F


def _prepare(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def _finish(y, u, D, z):
    if D is not None:
        y = y + u * D[..., None]
    if z is not None:
        y = y * F.silu(z)
    return y


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True):
    """The recurrence token by token (slow; the reference)."""
    delta = _prepare(delta, delta_bias, delta_softplus)
    batch, dim, length = u.shape
    decay = torch.exp(delta.unsqueeze(-1) * A[:, None, :])  # [B, D, L, N]
    drive = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)  # [B, D, L, N]
    readout = C.transpose(1, 2)  # [B, L, N]
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for i in range(length):
        h = decay[:, :, i] * h + drive[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", h, readout[:, i]))
    return _finish(torch.stack(ys, dim=2), u, D, z)


def selective_scan_chunked(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True, chunk=None):
    """The same recurrence in two levels: the L tokens are cut into K chunks of T (default
    T ≈ √L), the recurrence runs over the T positions of *all chunks at once* from a zero state,
    and the state entering each chunk is then carried across chunks:

        h_local[k, t] = exp(δA[k, t]) · h_local[k, t−1] + x[k, t]      (T steps, all k together)
        P[k, t]       = exp(S[k, t]),  S = cumulative log-decay from the chunk start (≤ 0)
        h_in[k + 1]   = P[k, T−1] · h_in[k] + h_local[k, T−1]           (K steps)
        h[k, t]       = h_local[k, t] + P[k, t] · h_in[k]

    Every factor is a decay ≤ 1, so nothing overflows however fast a channel forgets (a
    one-pass exp(−cumsum) formulation would overflow in float32 once S < −88), and autograd sees
    T + K small steps instead of L. The work is the reference's; the Python steps are 2√L."""
    delta = _prepare(delta, delta_bias, delta_softplus)
    batch, dim, length = u.shape
    n = A.shape[1]
    T = max(1, min(chunk or math.ceil(math.sqrt(length)), length))
    pad = (-length) % T
    if pad:
        # δ = 0 past the end: decay 1 and no input, so the padding changes no real token.
        delta, u_p = F.pad(delta, (0, pad)), F.pad(u, (0, pad))
        B_p, C_p = F.pad(B, (0, pad)), F.pad(C, (0, pad))
    else:
        u_p, B_p, C_p = u, B, C
    K = (length + pad) // T
    log_decay = (delta.unsqueeze(-1) * A[:, None, :]).view(batch, dim, K, T, n)  # [B, D, K, T, N]
    decay = torch.exp(log_decay)
    x = ((delta * u_p).unsqueeze(-1) * B_p.transpose(1, 2).unsqueeze(1)).view(batch, dim, K, T, n)
    # unbind, not indexing: its backward is one stack, where T separate index ops would each
    # allocate a full-size gradient.
    h = u.new_zeros(batch, dim, K, n)
    local = []
    for a_t, x_t in zip(decay.unbind(3), x.unbind(3)):
        h = a_t * h + x_t
        local.append(h)
    h_local = torch.stack(local, dim=3)
    P = torch.exp(torch.cumsum(log_decay, dim=3))
    state = u.new_zeros(batch, dim, n)
    carried = []
    for p_k, h_k in zip(P[:, :, :, -1].unbind(2), local[-1].unbind(2)):
        carried.append(state)
        state = p_k * state + h_k
    h = h_local + P * torch.stack(carried, dim=2).unsqueeze(3)
    readout = C_p.transpose(1, 2).reshape(batch, K, T, n)
    y = torch.einsum("bdktn,bktn->bdkt", h, readout).reshape(batch, dim, K * T)[:, :, :length]
    return _finish(y, u, D, z)
