"""The pack of prepared cases (nnmamba/casepack.py, pack_cases.py): it gives train.py the cases
load_cases would, up to the stated 8-bit quantisation, and refuses a spec that would prepare them
differently."""

import json

import numpy as np
import pytest
import torch

import pack_cases
import train
from nnmamba.casepack import PackError, read_pack
from test_train import make_cases, spec_for


def test_a_pack_holds_the_prepared_cases(tmp_path):
    cases = make_cases(tmp_path / "cases", "classification", count=3)
    spec_path, spec = spec_for("classification", tmp_path)
    pack = tmp_path / "cases.pack"
    assert pack_cases.main(["--spec", spec_path, "--cases", str(cases), "--out", str(pack)]) == 0
    direct = train.load_cases(str(cases), spec, "lesion", False)
    packed = read_pack(str(pack), spec, False)
    assert [name for _, _, name in packed] == [f"cases/{name}" for _, _, name in direct]
    for (a, truth_a, _), (b, truth_b, _) in zip(direct, packed):
        assert a.shape == b.shape and b.dtype == np.float32
        step = (a.max() - a.min()) / 255
        assert np.abs(a - b).max() <= step / 2 + 1e-5
        assert np.abs(a - b).max() > 0  # quantised indeed: the bound above is what is being checked
        np.testing.assert_array_equal(truth_a, truth_b)  # NaN where there is no lesion, on both


def test_a_pack_refuses_another_spec(tmp_path):
    cases = make_cases(tmp_path / "cases", "classification", count=1)
    spec_path, spec = spec_for("classification", tmp_path)
    pack = tmp_path / "cases.pack"
    assert pack_cases.main(["--spec", spec_path, "--cases", str(cases), "--out", str(pack)]) == 0
    other = dict(spec, target_spacing=[3.0, 3.0, 3.0])
    with pytest.raises(PackError, match="target_spacing"):
        read_pack(str(pack), other, False)
    with pytest.raises(PackError, match="crop_to_nonzero"):
        read_pack(str(pack), spec, True)
    with pytest.raises(PackError, match="truth key 'lesion', not 'tumour'"):
        read_pack(str(pack), spec, False, "tumour")
    (tmp_path / "junk.pack").write_bytes(b"not a pack")
    with pytest.raises(PackError, match="junk.pack: not a case pack"):
        read_pack(str(tmp_path / "junk.pack"), spec, False)


def test_training_from_a_pack(tmp_path):
    cases = make_cases(tmp_path / "cases", "classification", count=2)
    spec_path, _ = spec_for("classification", tmp_path)
    pack, first, second = tmp_path / "cases.pack", str(tmp_path / "a.pt"), str(tmp_path / "b.pt")
    assert pack_cases.main(["--spec", spec_path, "--cases", str(cases), "--out", str(pack)]) == 0
    assert (
        train.main(["--spec", spec_path, "--cases", str(pack), "--out", first, "--iterations", "2", "--seed", "1"]) == 0
    )
    # The batched step of --frozen-bn (two volumes of one shape per step), from the pack.
    assert (
        train.main(
            [
                "--spec",
                spec_path,
                "--cases",
                str(pack),
                "--out",
                second,
                "--iterations",
                "2",
                "--seed",
                "2",
                "--batch",
                "2",
                "--init",
                first,
                "--frozen-bn",
                "--lesion-channel",
                "1",
            ]
        )
        == 0
    )
    saved = torch.load(second, weights_only=True)
    assert set(saved["state_dict"]) == set(train.nnMambaEncoder(**saved["config"]["constructor"]).state_dict())
    with pytest.raises(SystemExit, match="packed for another spec"):
        spec = json.loads(open(spec_path).read())
        spec["target_spacing"] = [1.0, 1.0, 1.0]
        (tmp_path / "other.json").write_text(json.dumps(spec))
        train.main(["--spec", str(tmp_path / "other.json"), "--cases", str(pack), "--out", first, "--iterations", "1"])
