"""The chunked selective scan computes the reference recurrence: outputs and gradients agree in
float64 to ~1e-6 relative, across chunk sizes, lengths that are not a multiple of the chunk, and
channels that forget fast (where a naive exp(−cumsum) would overflow)."""

import pytest
import torch

from nnmamba.scan import selective_scan_chunked, selective_scan_ref


def inputs(length, fast_forgetting, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    b, d, n = 2, 12, 16
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)
    a_log = torch.log(torch.arange(1, n + 1, dtype=dtype)).repeat(d, 1) + 0.2 * r(d, n)
    if fast_forgetting:
        a_log = a_log + 3  # |A| up to ~320: δ·A of −100 and more per token
    return dict(
        u=r(b, d, length),
        delta=r(b, d, length),
        A=-torch.exp(a_log),
        B=r(b, n, length),
        C=r(b, n, length),
        D=1 + 0.3 * r(d),
        z=r(b, d, length),
        delta_bias=0.5 * r(d),
    )


@pytest.mark.parametrize("chunk", [1, 5, 16, 64, 1000])
@pytest.mark.parametrize("length,fast", [(1, False), (37, False), (200, False), (200, True)])
def test_chunked_scan_matches_the_reference(length, fast, chunk):
    args = inputs(length, fast)
    ref = selective_scan_ref(**args)
    out = selective_scan_chunked(**args, chunk=chunk)
    assert out.shape == ref.shape
    relative = ((out - ref).abs().max() / ref.abs().max()).item()
    assert relative <= 1e-6, f"relative error {relative:.2e}"


@pytest.mark.parametrize("fast", [False, True])
def test_chunked_scan_gradients_match_the_reference(fast):
    grads = []
    for scan in (selective_scan_ref, lambda **a: selective_scan_chunked(**a, chunk=16)):
        args = inputs(75, fast, seed=3)
        leaves = [args[k].requires_grad_(True) for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
        y = scan(**args)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        grads.append([t.grad.clone() for t in leaves])
    for name, a, b in zip(("u", "delta", "A", "B", "C", "D", "z", "delta_bias"), *grads):
        assert torch.isfinite(b).all(), name
        relative = ((a - b).abs().max() / a.abs().max().clamp_min(1e-30)).item()
        assert relative <= 1e-6, f"gradient of {name}: relative error {relative:.2e}"


def test_chunked_scan_float32_stays_close_on_a_long_sequence():
    """Float32 over 4096 tokens: the log-decay is relative to the chunk start, so precision does
    not degrade with the sequence length."""
    args64 = inputs(4096, False, seed=5)
    ref = selective_scan_ref(**args64)
    out = selective_scan_chunked(**{k: v.float() for k, v in args64.items()}, chunk=32).double()
    relative = ((out - ref).abs().max() / ref.abs().max()).item()
    assert relative <= 2e-5, f"relative error {relative:.2e}"
