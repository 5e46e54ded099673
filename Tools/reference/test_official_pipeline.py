"""Self-tests of the reference pipeline on small synthetic NIfTI files.

.venv/bin/python -m pytest Tools/reference -q
"""

import json
import struct
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from skimage.transform import resize

import official_pipeline as op

HERE = Path(__file__).resolve().parent

# dcm2niix's usual axial layout (i toward patient left, j anterior, k superior), turned 20° about z.
ANISO_ZOOMS = (0.8, 0.8, 4.0)
ANISO_SHAPE = (20, 24, 9)  # (i, j, k)


def make_affine(zooms, angle_deg=20.0, signs=(-1.0, 1.0, 1.0), origin=(101.5, -87.25, -42.0)):
    t = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(np.asarray(signs) * np.asarray(zooms))
    affine[:3, 3] = origin
    return affine


def write_nifti(path, data_ijk, zooms, dtype=np.float32, affine=None):
    affine = make_affine(zooms) if affine is None else affine
    img = nib.Nifti1Image(np.asarray(data_ijk).astype(dtype), affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(path))
    return Path(path)


def distinct_volume(shape):
    """A distinct value per (i, j, k): i + 100 j + 10000 k + 1 (never 0, so nothing is cropped)."""
    i, j, k = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return (i + 100 * j + 10000 * k + 1).astype(np.float32)


def write_plans(path, target_spacing, schemes, use_mask=None, intensity=None, forward=(0, 1, 2), backward=None):
    forward = list(forward)
    plans = {
        "target_spacing": list(target_spacing),
        "transpose_forward": forward,
        "transpose_backward": list(backward) if backward is not None else [int(a) for a in np.argsort(forward)],
        "normalization_schemes": list(schemes),
        "use_mask_for_norm": list(use_mask) if use_mask is not None else [False] * len(schemes),
    }
    if intensity is not None:
        plans["intensityproperties"] = intensity
    Path(path).write_text(json.dumps(plans))
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Files and reading


def test_tensor_files_round_trip(tmp_path):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 5.5
    op.write_tensor(tmp_path / "t", array, note="x", nested={"a": np.int64(3)})
    raw = (tmp_path / "t.f32").read_bytes()
    assert len(raw) == 24 * 4 and struct.unpack("<f", raw[4:8])[0] == array.reshape(-1)[1]
    back, meta = op.read_tensor(tmp_path / "t")
    assert meta["shape"] == [2, 3, 4] and meta["note"] == "x" and meta["nested"] == {"a": 3}
    np.testing.assert_array_equal(back, array)


def test_read_like_sitk_order_spacing_and_scaling(tmp_path):
    data = distinct_volume(ANISO_SHAPE)
    path = write_nifti(tmp_path / "a.nii.gz", data, ANISO_ZOOMS)
    array, spacing, _ = op.read_like_sitk(path)
    assert array.shape == (9, 24, 20)
    assert array[3, 5, 7] == data[7, 5, 3]
    np.testing.assert_array_equal(array, data.transpose(2, 1, 0))
    np.testing.assert_allclose(spacing, [4.0, 0.8, 0.8], rtol=1e-6)

    # int16 with scl_slope 2, scl_inter -1024 (patched into the header): ITK promotes to float32.
    raw = (np.arange(np.prod(ANISO_SHAPE)) % 300).reshape(ANISO_SHAPE).astype(np.int16)
    scaled_path = write_nifti(tmp_path / "s.nii", raw, ANISO_ZOOMS, dtype=np.int16)
    header = bytearray(scaled_path.read_bytes())
    header[112:120] = struct.pack("<ff", 2.0, -1024.0)
    scaled_path.write_bytes(bytes(header))
    array, _, _ = op.read_like_sitk(scaled_path)
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, (raw.astype(np.float64) * 2 - 1024).transpose(2, 1, 0))


def test_itk_geometry_is_lps():
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), make_affine((0.5, 0.7, 2.0), angle_deg=0.0))
    geo = op.itk_geometry(img)
    np.testing.assert_allclose(geo["itk_origin"], [-101.5, 87.25, -42.0])
    np.testing.assert_allclose(geo["itk_spacing"], [0.5, 0.7, 2.0], rtol=1e-6)
    # i toward RAS −x = LPS +x; j toward RAS +y = LPS −y.
    np.testing.assert_allclose(np.reshape(geo["itk_direction"], (3, 3)), np.diag([1.0, -1.0, 1.0]), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Classification


def test_adni_is_nibabel_ijk(tmp_path):
    data = distinct_volume(ANISO_SHAPE)
    path = write_nifti(tmp_path / "a.nii.gz", data, ANISO_ZOOMS)
    assert op.main(["adni-preprocess", "--image", str(path), "--out", str(tmp_path / "adni")]) == 0
    tensor, meta = op.read_tensor(tmp_path / "adni")
    assert meta["shape"] == [1, 20, 24, 9]
    np.testing.assert_array_equal(tensor[0], data)
    np.testing.assert_allclose(meta["nifti_affine"], make_affine(ANISO_ZOOMS), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# nnU-Net v1 preprocessing


@pytest.mark.parametrize("forward", [(0, 1, 2), (2, 0, 1)])
def test_nnunet_axis_order_without_resampling(tmp_path, forward):
    data = distinct_volume(ANISO_SHAPE)
    image = write_nifti(tmp_path / "a_0000.nii.gz", data, ANISO_ZOOMS)
    target = list(np.array([4.0, 0.8, 0.8])[list(forward)])
    plans = write_plans(tmp_path / "plans.json", target, ["noNorm"], forward=forward)
    op.main(["nnunet-preprocess", "--image", str(image), "--plans", str(plans), "--out", str(tmp_path / "p")])
    tensor, meta = op.read_tensor(tmp_path / "p")
    expected = data.transpose(2, 1, 0).transpose(forward)
    assert meta["shape"] == [1, *expected.shape]
    np.testing.assert_allclose(tensor[0], expected, rtol=1e-6)
    assert meta["original_size_of_raw_data"] == [9, 24, 20]
    assert meta["crop_bbox"] == [[0, 9], [0, 24], [0, 20]]
    assert meta["size_after_cropping"] == [9, 24, 20]
    assert meta["size_after_resampling"] == list(expected.shape)
    np.testing.assert_allclose(meta["original_spacing"], [4.0, 0.8, 0.8], rtol=1e-6)
    assert meta["transpose_forward"] == list(forward)


def test_nnunet_crop_bbox_and_masked_zscore(tmp_path):
    data = np.zeros(ANISO_SHAPE, np.float32)  # (i, j, k) = (20, 24, 9)
    rng = np.random.default_rng(0)
    data[3:8, 2:20, 1:7] = rng.uniform(10, 50, size=(5, 18, 6))
    data[12:17, 2:20, 1:7] = rng.uniform(10, 50, size=(5, 18, 6))
    data[5, 10, 3] = 0.0  # an enclosed hole: filled, so inside the mask
    image = write_nifti(tmp_path / "a.nii.gz", data, ANISO_ZOOMS)
    plans = write_plans(tmp_path / "plans.json", [4.0, 0.8, 0.8], ["nonCT"], use_mask=[True])
    tensor, props = op.nnunet_preprocess([image], json.loads(plans.read_text()))

    assert props["crop_bbox"] == [[1, 7], [2, 20], [3, 17]]  # (k, j, i)
    assert props["size_after_cropping"] == [6, 18, 14]
    assert tensor.shape == (1, 6, 18, 14)

    cropped = data[3:17, 2:20, 1:7].transpose(2, 1, 0)  # [k, j, i]
    mask = np.zeros_like(cropped, dtype=bool)
    mask[:, :, 0:5] = True
    mask[:, :, 9:14] = True  # the gap between the blocks (i 8..11) is open background
    values = cropped[mask]
    expected = np.zeros_like(cropped)
    expected[mask] = (values - values.mean()) / (values.std() + 1e-8)
    np.testing.assert_allclose(tensor[0], expected, atol=1e-5)
    assert tensor[0][2, 8, 2] == pytest.approx(float((0.0 - values.mean()) / values.std()), abs=1e-5)
    assert np.all(tensor[0][:, :, 5:9] == 0)


def test_nnunet_ct_normalisation_by_hand(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.uniform(-1100, 1800, size=ANISO_SHAPE).astype(np.float32)
    image = write_nifti(tmp_path / "ct.nii.gz", data, ANISO_ZOOMS)
    stats = {"mean": 57.5, "sd": 212.25, "percentile_00_5": -980.0, "percentile_99_5": 1500.0}
    plans = write_plans(tmp_path / "plans.json", [4.0, 0.8, 0.8], ["CT"], intensity=[stats])
    tensor, props = op.nnunet_preprocess([image], json.loads(plans.read_text()))
    kji = data.transpose(2, 1, 0).astype(np.float64)
    expected = (np.clip(kji, -980.0, 1500.0) - 57.5) / 212.25
    assert props["size_after_resampling"] == [9, 24, 20]
    np.testing.assert_allclose(tensor[0], expected, atol=1e-5)
    assert tensor.min() == pytest.approx((-980.0 - 57.5) / 212.25, abs=1e-6)
    assert tensor.max() == pytest.approx((1500.0 - 57.5) / 212.25, abs=1e-6)


def test_separate_z_choice_rules():
    do, axis = op.separate_z_choice([4.0, 0.8, 0.8], [4.0, 0.8, 0.8])
    assert do and list(axis) == [0]
    do, axis = op.separate_z_choice([1.0, 1.0, 1.0], [1.0, 1.0, 3.5])  # the target decides
    assert do and list(axis) == [2]
    do, _ = op.separate_z_choice([4.0, 4.0, 0.8], [4.0, 4.0, 0.8])  # two axes tied for the largest
    assert not do
    do, axis = op.separate_z_choice([2.9, 1.0, 1.0], [1.0, 1.0, 1.0])  # ratio 2.9 is not > 3
    assert not do and axis is None


def test_nnunet_separate_z_is_nearest_along_z(tmp_path):
    data = distinct_volume(ANISO_SHAPE)
    image = write_nifti(tmp_path / "a.nii.gz", data, ANISO_ZOOMS)
    kji = data.transpose(2, 1, 0)

    plans = {"target_spacing": [2.0, 0.8, 0.8], "normalization_schemes": ["noNorm"], "use_mask_for_norm": [False]}
    tensor, props = op.nnunet_preprocess([image], plans)
    assert tensor.shape == (1, 18, 24, 20)
    assert props["do_separate_z"] and props["lowres_axis"] == [0]
    for kk in range(18):  # z sampled at 0.5 (kk + 0.5) − 0.5, rounded: slice kk // 2
        np.testing.assert_allclose(tensor[0, kk], kji[kk // 2], rtol=1e-5)

    plans["target_spacing"] = [2.0, 1.6, 1.6]
    tensor, props = op.nnunet_preprocess([image], plans)
    assert tensor.shape == (1, 18, 12, 10)
    for kk in range(18):
        plane = resize(kji[kk // 2].astype(float), (12, 10), order=3, mode="edge", anti_aliasing=False)
        np.testing.assert_allclose(tensor[0, kk], plane.astype(np.float32), rtol=1e-6)


def test_nnunet_isotropic_resampling_is_3d_cubic(tmp_path):
    data = distinct_volume((12, 10, 8))
    image = write_nifti(tmp_path / "iso.nii", data, (1.0, 1.0, 1.0))
    plans = {"target_spacing": [1.5, 1.5, 1.5], "normalization_schemes": ["noNorm"], "use_mask_for_norm": [False]}
    tensor, props = op.nnunet_preprocess([image], plans)
    assert tensor.shape == (1, 5, 7, 8)  # round(8/1.5), round(10/1.5), round(12/1.5)
    assert not props["do_separate_z"]
    expected = resize(data.transpose(2, 1, 0).astype(float), (5, 7, 8), order=3, mode="edge", anti_aliasing=False)
    np.testing.assert_allclose(tensor[0], expected.astype(np.float32), rtol=1e-6)

    plans["target_spacing"] = [4.0, 1.0, 1.0]  # anisotropic target: separate z along axis 0
    tensor, props = op.nnunet_preprocess([image], plans)
    assert tensor.shape == (1, 2, 10, 12)
    assert props["do_separate_z"] and props["lowres_axis"] == [0]


# ---------------------------------------------------------------------------------------------
# nnU-Net v1 export


def labelled_case(tmp_path):
    labels = np.zeros(ANISO_SHAPE, np.float32)  # (i, j, k)
    labels[4:16, 3:21, 2:8] = 1
    labels[8:12, 8:16, 3:6] = 2
    image = np.where(labels > 0, 100.0 + 50.0 * labels, 0.0).astype(np.float32)
    return labels, write_nifti(tmp_path / "case_0000.nii.gz", image, ANISO_ZOOMS)


def test_nnunet_export_round_trip_without_resampling(tmp_path):
    labels, image = labelled_case(tmp_path)
    forward = [2, 0, 1]
    plans = write_plans(tmp_path / "plans.json", [0.8, 4.0, 0.8], ["nonCT"], use_mask=[True], forward=forward)
    op.main(["nnunet-preprocess", "--image", str(image), "--plans", str(plans), "--out", str(tmp_path / "p")])
    _, props = op.read_tensor(tmp_path / "p")
    assert props["crop_bbox"] == [[2, 8], [3, 21], [4, 16]]
    assert props["transpose_backward"] == [1, 2, 0]

    kji = labels.transpose(2, 1, 0)
    (k0, k1), (j0, j1), (i0, i1) = props["crop_bbox"]
    grid = kji[k0:k1, j0:j1, i0:i1].transpose(forward)
    assert list(grid.shape) == props["size_after_resampling"]
    one_hot = np.stack([(grid == c).astype(np.float32) for c in range(3)])
    op.write_tensor(tmp_path / "probs", one_hot)
    op.main(
        [
            "nnunet-export",
            "--probabilities",
            str(tmp_path / "probs"),
            "--properties",
            str(tmp_path / "p.json"),
            "--out",
            str(tmp_path / "labels"),
        ]
    )
    back, meta = op.read_tensor(tmp_path / "labels")
    assert meta["shape"] == [9, 24, 20] and meta["resampled"] is False
    np.testing.assert_array_equal(back, kji)


def test_nnunet_export_resamples_back_to_the_file_grid(tmp_path):
    labels, image = labelled_case(tmp_path)
    plans = {"target_spacing": [2.0, 0.8, 0.8], "normalization_schemes": ["nonCT"], "use_mask_for_norm": [True]}
    tensor, props = op.nnunet_preprocess([image], plans)
    assert tensor.shape == (1, 12, 18, 12)  # 6 cropped slices → 12
    probs = np.zeros((3, 12, 18, 12), np.float32)
    probs[1, :6] = 0.9  # class 1 in the first half of the network's z, class 2 in the second
    probs[2, 6:] = 0.9
    back, info = op.nnunet_export(probs, props)
    assert back.shape == (9, 24, 20)
    assert info["resampled"] and info["do_separate_z"] and info["lowres_axis"] == [0]
    box = np.zeros(back.shape, bool)
    box[2:8, 3:21, 4:16] = True
    assert np.all(back[~box] == 0)
    assert np.all(back[2:5, 3:21, 4:16] == 1) and np.all(back[5:8, 3:21, 4:16] == 2)


# ---------------------------------------------------------------------------------------------
# LFC


def test_lfc_preprocess_resize_window_and_axes(tmp_path):
    shape = (16, 20, 12)  # (i, j, k); intensity grows along k only, zeros on the first k slice
    k = np.broadcast_to(np.arange(shape[2], dtype=np.int16), shape)
    data = (k * 40).astype(np.int16)
    data[:, :, -1] = 3000  # a bright outlier above mean + 2 std: clipped to 255
    image = write_nifti(tmp_path / "fetal.nii.gz", data, (0.6, 0.6, 0.6), dtype=np.int16)
    assert op.main(["lfc-preprocess", "--image", str(image), "--out", str(tmp_path / "lfc")]) == 0
    tensor, meta = op.read_tensor(tmp_path / "lfc")
    assert meta["shape"] == [1, 128, 128, 128]
    assert meta["original_shape_kji"] == [12, 20, 16] and meta["sitk_size_ijk"] == [16, 20, 12]

    resized = resize(data.transpose(2, 1, 0), (128, 128, 128), order=1, preserve_range=True)
    positive = resized[resized > 0]
    low, high = positive.mean() - 2 * positive.std(), positive.mean() + 2 * positive.std()
    expected = (np.clip(resized, low, high) - low) / (high - low) * 255.0
    np.testing.assert_allclose(tensor[0], expected, atol=1e-3)
    assert tensor.min() >= 0.0 and tensor.max() == pytest.approx(255.0, abs=1e-3)
    assert np.ptp(tensor[0, :, 64, 64]) > 100  # axis 0 is k
    assert np.ptp(tensor[0, 64, :, 64]) == 0 and np.ptp(tensor[0, 64, 64, :]) == 0


def test_lfc_landmarks_single_peak(tmp_path):
    zooms = (0.5, 0.6, 0.7)
    image = write_nifti(tmp_path / "fetal.nii.gz", np.ones(ANISO_SHAPE, np.float32), zooms)  # (20, 24, 9)
    heat = np.zeros((2, 128, 128, 128), np.float32)
    heat[0, 64, 32, 100] = 1.0
    heat[1, 10, 120, 5] = 3.0
    heat[1, 11, 120, 5] = 3.0  # tie: the first in C order wins
    op.write_tensor(tmp_path / "heat", heat)
    out = tmp_path / "marks.json"
    op.main(["lfc-landmarks", "--heatmaps", str(tmp_path / "heat"), "--image", str(image), "--out", str(out)])
    result = json.loads(out.read_text())
    first, second = result["landmarks"]
    assert first["channel"] == 0 and first["grid_index"] == [64, 32, 100]
    assert second["grid_index"] == [10, 120, 5]

    si, sj, sk = ANISO_SHAPE
    voxel = np.array([64 * sk / 128, 32 * sj / 128, 100 * si / 128])  # upstream's swapped factor
    np.testing.assert_allclose(first["voxel_ijk"], voxel)
    ras = make_affine(zooms) @ np.append(voxel, 1.0)
    np.testing.assert_allclose(first["lps"], [-ras[0], -ras[1], ras[2]], atol=1e-4)

    per_axis = op.lfc_landmarks(heat, image, scaling="per-axis")["landmarks"][0]
    np.testing.assert_allclose(per_axis["voxel_ijk"], [64 * si / 128, 32 * sj / 128, 100 * sk / 128])


def test_lfc_upstream_mm_matches_affine_when_direction_is_identity_lps(tmp_path):
    zooms = (0.6, 0.6, 0.6)
    affine = make_affine(zooms, angle_deg=0.0, signs=(-1.0, -1.0, 1.0))  # LPS-aligned: ITK direction = identity
    image = write_nifti(tmp_path / "lps.nii", np.ones((32, 32, 32), np.float32), zooms, affine=affine)
    heat = np.zeros((1, 128, 128, 128), np.float32)
    heat[0, 7, 99, 64] = 1.0
    mark = op.lfc_landmarks(heat, image)["landmarks"][0]
    np.testing.assert_allclose(mark["voxel_ijk"], [7 / 4, 99 / 4, 64 / 4])
    np.testing.assert_allclose(mark["upstream_lps"], mark["lps"], atol=1e-4)


def test_cli_runs_as_a_script(tmp_path):
    image = write_nifti(tmp_path / "a.nii.gz", distinct_volume((4, 5, 3)), (1.0, 1.0, 2.0))
    script = HERE / "official_pipeline.py"
    done = subprocess.run(
        [sys.executable, str(script), "adni-preprocess", "--image", str(image), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "o.json").read_text())["shape"] == [1, 4, 5, 3]
