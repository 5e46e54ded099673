import torch

import average_checkpoints
from nnmamba import nnMambaEncoder
from nnmamba.checkpoints import save_ours


def test_average_is_the_mean_of_the_float_tensors(tmp_path):
    constructor = dict(in_ch=1, channels=8, blocks=2, number_classes=1, d_state=8)
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = nnMambaEncoder(**constructor)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.running_mean.uniform_(-1, 1)
                module.num_batches_tracked.fill_(seed * 10)
        path = str(tmp_path / f"m{seed}.pt")
        save_ours(path, model, "nnMambaEncoder", constructor, {"name": f"m{seed}"}, card=f"run {seed}")
        paths.append(path)
    out = str(tmp_path / "mean.pt")
    assert average_checkpoints.main([out, *paths]) == 0
    a, b, mean = (torch.load(p, weights_only=True) for p in (*paths, out))
    checked = 0
    for key, value in mean["state_dict"].items():
        if value.is_floating_point():
            expected = (a["state_dict"][key].double() + b["state_dict"][key].double()) / 2
            assert torch.allclose(value.double(), expected, atol=1e-7), key
            checked += not torch.equal(a["state_dict"][key], b["state_dict"][key])
        else:
            assert torch.equal(value, b["state_dict"][key]), key  # from the last input
    assert checked > 50  # the inputs really differed
    assert mean["config"]["manifest"] == {"name": "m2"}
    assert mean["config"]["card"].startswith("run 2") and "m1.pt" in mean["config"]["card"]


def test_inputs_of_different_networks_are_refused(tmp_path):
    paths = []
    for channels in (8, 16):
        model = nnMambaEncoder(in_ch=1, channels=channels, blocks=2, number_classes=1, d_state=8)
        path = str(tmp_path / f"c{channels}.pt")
        save_ours(
            path, model, "nnMambaEncoder", dict(in_ch=1, channels=channels, blocks=2, number_classes=1, d_state=8), {}
        )
        paths.append(path)
    try:
        average_checkpoints.main([str(tmp_path / "x.pt"), *paths])
    except SystemExit as e:
        assert "shape" in str(e)
    else:
        raise AssertionError("different networks were averaged")


def test_spec_replaces_the_manifest(tmp_path):
    import json

    constructor = dict(in_ch=1, channels=8, blocks=2, number_classes=1, d_state=8)
    path = str(tmp_path / "m.pt")
    save_ours(path, nnMambaEncoder(**constructor), "nnMambaEncoder", constructor, {"name": "old"})
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": "new", "format": "x"}))
    out = str(tmp_path / "mean.pt")
    assert average_checkpoints.main(["--spec", str(spec), out, path, path]) == 0
    assert torch.load(out, weights_only=True)["config"]["manifest"] == {"name": "new"}
