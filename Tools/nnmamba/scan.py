"""The selective scan of Mamba v1 (nnmamba-architecture.md §2.4, step 5), two ways.

Both compute, per batch item b, channel d and state n, with h starting at 0:

    δ = softplus(delta + delta_bias)                     (threshold 20, as PyTorch)
    h[l] = exp(δ[l]·A[d,n]) · h[l−1] + δ[l] · B[l,n] · u[l]
    y[l] = Σ_n C[l,n] · h[l] + D[d] · u[l],   then y · SiLU(z)

`selective_scan_ref` walks the tokens one by one, exactly the recurrence: it is the reference the
golden fixtures were computed with. `selective_scan_chunked` computes the same numbers with a
handful of whole-tensor operations per chunk of tokens, so autograd records a few large nodes
instead of one small node per token; that is what makes CPU training practical.

Shapes: u, delta, z [B, D, L]; A [D, N]; B, C [B, N, L]; D, delta_bias [D]. Returns [B, D, L].
"""
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
    decay = torch.exp(delta.unsqueeze(-1) * A[:, None, :])                     # [B, D, L, N]
    drive = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)         # [B, D, L, N]
    readout = C.transpose(1, 2)                                                # [B, L, N]
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for i in range(length):
        h = decay[:, :, i] * h + drive[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", h, readout[:, i]))
    return _finish(torch.stack(ys, dim=2), u, D, z)


def selective_scan_chunked(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True, chunk=64):
    """The same recurrence, parallel within chunks of `chunk` tokens, sequential across chunks.

    Within a chunk, with S[t] = Σ_{s≤t} δ[s]·A (the cumulative log-decay from the chunk start,
    ≤ 0) and x[s] = δ[s]·B[s]·u[s], the zero-start state is

        h_local[t] = Σ_{s≤t} exp(S[t] − S[s]) · x[s] = exp(S[t]) · cumsum_s(exp(−S[s]) · x[s]).

    Written naively, exp(−S[s]) overflows as soon as a channel forgets quickly (S reaches −88 in
    float32 within a chunk), and clamping it would silently drop the recent terms. So the cumsum is
    taken in log space: x is split into its positive and negative parts, and
    `logcumsumexp(log x± − S)` keeps every term in range; exp(S[t] + that) is at most the size of
    the state. The state entering each chunk is then carried across chunks by the recurrence on
    chunk ends (one small step per chunk) and added back as exp(S[t]) · h_in. Every operation is
    differentiable, and S is relative to the chunk start, so float32 keeps its precision however
    long the sequence is.
    """
    delta = _prepare(delta, delta_bias, delta_softplus)
    batch, dim, length = u.shape
    n = A.shape[1]
    T = max(1, min(chunk, length))
    pad = (-length) % T
    if pad:
        # δ = 0 past the end: decay 1 and no input, so the padding changes no real token.
        delta_p, u_p = F.pad(delta, (0, pad)), F.pad(u, (0, pad))
        B_p, C_p = F.pad(B, (0, pad)), F.pad(C, (0, pad))
    else:
        delta_p, u_p, B_p, C_p = delta, u, B, C
    K = (length + pad) // T
    # [B, D, K, T, N]
    log_decay = (delta_p.unsqueeze(-1) * A[:, None, :]).view(batch, dim, K, T, n)
    S = torch.cumsum(log_decay, dim=3)
    x = ((delta_p * u_p).unsqueeze(-1) * B_p.transpose(1, 2).unsqueeze(1)).view(batch, dim, K, T, n)
    # log|x| of the positive and of the negative part; a value far below any real exponent marks
    # "no term" (finite, so the backward pass sees no inf − inf).
    none = torch.finfo(x.dtype).min / 4
    tiny = torch.finfo(x.dtype).tiny
    log_pos = torch.where(x > 0, torch.log(x.clamp_min(tiny)), torch.full_like(x, none))
    log_neg = torch.where(x < 0, torch.log((-x).clamp_min(tiny)), torch.full_like(x, none))
    both = torch.logcumsumexp(torch.stack((log_pos, log_neg)) - S, dim=4)
    h_local = torch.exp(S + both[0]) - torch.exp(S + both[1])
    # Carry across chunks: the state entering chunk k.
    chunk_decay = torch.exp(S[:, :, :, -1])              # [B, D, K, N]
    chunk_end = h_local[:, :, :, -1]
    carried = []
    state = u.new_zeros(batch, dim, n)
    for k in range(K):
        carried.append(state)
        state = chunk_decay[:, :, k] * state + chunk_end[:, :, k]
    h = h_local + torch.exp(S) * torch.stack(carried, dim=2).unsqueeze(3)
    readout = C_p.transpose(1, 2).reshape(batch, K, T, n)
    y = torch.einsum("bdktn,bktn->bdkt", h, readout).reshape(batch, dim, K * T)[:, :, :length]
    return _finish(y, u, D, z)
