"""Times the reference and the chunked selective scan, forward + backward, on one Mamba call of
training size (default: d_inner 64, d_state 16, 4096 tokens = layer1 of a 64³ patch at 16
channels), and prints the speed-up and their difference. Not a test: timings vary with the machine.

    Tools/.venv/bin/python Tools/bench_scan.py [--length 4096] [--channels 64] [--chunk 32]
"""

import argparse
import time

import torch

from nnmamba.scan import selective_scan_chunked, selective_scan_ref


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=4096)
    p.add_argument("--channels", type=int, default=64, help="d_inner")
    p.add_argument("--state", type=int, default=16)
    p.add_argument(
        "--chunk", type=int, action="append", help="chunk size(s) to time; 0 = automatic (default 0, 32, 64)"
    )
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    b, d, n, l = 1, a.channels, a.state, a.length
    base = dict(
        u=torch.randn(b, d, l, generator=g),
        delta=torch.randn(b, d, l, generator=g) - 2,
        A=-torch.arange(1, n + 1.0).repeat(d, 1),
        B=torch.randn(b, n, l, generator=g),
        C=torch.randn(b, n, l, generator=g),
        D=torch.ones(d),
        z=torch.randn(b, d, l, generator=g),
        delta_bias=0.1 * torch.randn(d, generator=g),
    )

    def run(scan, **kw):
        args = {k: v.clone().requires_grad_(k in ("u", "delta", "B", "C")) for k, v in base.items()}
        start = time.perf_counter()
        y = scan(**args, **kw)
        y.square().sum().backward()
        return time.perf_counter() - start, y.detach()

    t_ref, y_ref = run(selective_scan_ref)
    print(f"reference: {t_ref:.2f} s (forward + backward, {l} tokens, d_inner {d}, d_state {n})")
    run(selective_scan_chunked)  # warm-up (first-call allocations)
    for chunk in a.chunk or [0, 32, 64]:
        t, y = run(selective_scan_chunked, chunk=chunk or None)
        rel = ((y - y_ref).abs().max() / y_ref.abs().max()).item()
        print(f"chunked {chunk or 'auto':>4}: {t:.2f} s, speed-up {t_ref / t:.0f}×, max relative difference {rel:.1e}")


if __name__ == "__main__":
    main()
