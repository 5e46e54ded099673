"""Our networks loaded with the golden fixtures' weights reproduce the float64 references within
the tolerances of Tests/Fixtures/golden/nnmamba/README.md: 1e-5 · max(1, max|ref|) for the unit fixtures,
1e-4 · max(1, max|ref|) for whole networks. Each runs with the reference scan and the chunked
one, in float32 (the tolerance) and float64 (near-exact: the same function)."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from nnmamba import Mamba, MambaLayer, make_res_layer, nnMambaEncoder, nnMambaSeg, set_scan

UNIT, NETWORK = 1e-5, 1e-4


def build(name, config):
    a = config["constructor_args"]
    if name == "mamba_block":
        return Mamba(a["d_model"], d_state=a["d_state"], d_conv=a["d_conv"], expand=a["expand"])
    if name == "css_mamba_layer":
        return MambaLayer(a["dim"], d_state=a["d_state"], d_conv=a["d_conv"], expand=a["expand"])
    if name == "res_layer":
        return make_res_layer(
            a["inplanes"], a["planes"], a["blocks"], a["stride"], MambaLayer(a["mamba_dim"], d_state=a["d_state"])
        )
    d_state = config["mamba_defaults"]["d_state"]
    if name == "seg":
        return nnMambaSeg(a["in_ch"], a["channels"], a["blocks"], a["number_classes"], d_state=d_state)
    return nnMambaEncoder(a["in_ch"], a["channels"], a["blocks"], a["number_classes"], d_state=d_state)


def load(golden, name, dtype):
    folder = os.path.join(golden, name)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = build(name, config)
    weights = load_file(os.path.join(folder, "weights.safetensors"))
    model.load_state_dict(weights, strict=True)
    model.to(dtype).eval()
    x = load_file(os.path.join(folder, "input.safetensors"))["input"].to(dtype)
    ref = load_file(os.path.join(folder, "output.safetensors"))["output"].double()
    inter = os.path.join(folder, "intermediates.safetensors")
    intermediates = load_file(inter) if os.path.exists(inter) else {}
    return model, x, ref, {k: v.double() for k, v in intermediates.items()}


def error(out, ref):
    out = out.double().reshape(ref.shape)
    return (out - ref).abs().max().item(), max(1.0, ref.abs().max().item())


def run(model, name, x):
    """The output and the intermediates the fixture names, captured the way they were made."""
    captured = {}
    with torch.no_grad():
        if name in ("mamba_block", "css_mamba_layer"):
            out = model(x, trace=captured)
        else:
            hooks = []
            for module_name, module in model.named_modules():
                if module_name:
                    hooks.append(
                        module.register_forward_hook(
                            lambda m, i, o, key=module_name: captured.__setitem__(key, o.clone())
                        )
                    )
            out = model(x)
            for h in hooks:
                h.remove()
    return out, captured


CASES = [("mamba_block", UNIT), ("css_mamba_layer", UNIT), ("res_layer", UNIT), ("seg", NETWORK), ("cls", NETWORK)]
MEASURED = {}


@pytest.mark.parametrize("scan", ["ref", "chunked"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("name,tolerance", CASES, ids=[c[0] for c in CASES])
def test_golden_fixture(golden, name, tolerance, dtype, scan):
    set_scan(scan, chunk=16)
    try:
        model, x, ref, intermediates = load(golden, name, dtype)
        out, captured = run(model, name, x)
    finally:
        set_scan("chunked")
    err, scale = error(out, ref)
    MEASURED[(name, str(dtype), scan)] = (err, scale)
    print(f"{name} {dtype} {scan}: max|err| {err:.3e}, max|ref| {scale:.3g}, relative {err / scale:.2e}")
    # float64 computes the reference's own function: only the reference's float32 storage
    # (relative 6e-8) separates us from it.
    limit = tolerance * scale if dtype == torch.float32 else 1e-6 * scale
    assert err <= limit, f"{name}: max |ours − golden| {err:.3e} > {limit:.3e}"
    for key, value in intermediates.items():
        # res_layer names its blocks "0", "1", "2"; the hooks see them under the same names.
        assert key in captured, f"{name}: intermediate {key} not captured"
        e, s = error(captured[key], value)
        assert e <= limit / scale * s, f"{name}: intermediate {key}: max|err| {e:.3e} over {limit / scale * s:.3e}"


def test_golden_seg_argmax_agrees(golden):
    """Labels agree wherever the top two channels differ by more than 1e-3 (README)."""
    model, x, ref, _ = load(golden, "seg", torch.float32)
    with torch.no_grad():
        out = model(x).double()
    top2 = ref.topk(2, dim=1).values
    decisive = (top2[:, 0] - top2[:, 1]) > 1e-3
    assert decisive.sum() > 0
    assert torch.equal(out.argmax(1)[decisive], ref.argmax(1)[decisive])
