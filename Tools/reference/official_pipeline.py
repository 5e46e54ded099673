#!/usr/bin/env python3
"""Reference pipeline: what the official nnMamba code does between a NIfTI file and the network.

Used only by tests. The node builds the same tensors from the DICOM series; Swift tests call this
script through the project's venv and compare (see Tools/reference/README.md and
docs/official-input-layouts.md). Written from reading the upstream code, not copied from it:

- segmentation: the nnU-Net v1 fork in lhaof/nnMamba (`nnunet/preprocessing/cropping.py`,
  `nnunet/preprocessing/preprocessing.py`, `nnunet/inference/segmentation_export.py`,
  `nnunet/inference/predict.py`), identical there to MIC-DKFZ/nnUNet branch nnunetv1, plus
  batchgenerators' `resize_segmentation`;
- classification: `classification/data_declaration.py` `get_mri` (the loader `nnMamba4cls.py` is trained with);
- landmarks: lhaof/LFC `dataloader.py` (`FetalDataset.process_image`, `window_image`, `get_anno`),
  `train_3d.py` (`generate_gaussian_heatmap`) and `eval_3d.py` (`get_points_from_heatmap_torch`).

Tensor files: PREFIX.f32 (raw C-order little-endian float32) and PREFIX.json ({"shape": [...], ...}).
Arithmetic follows the dtypes upstream ran with (NumPy 1.x, where a float64 scalar did not widen a
float32 array); the resampling is scikit-image's and SciPy's own, so the installed versions matter at
the last-bit level.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.ndimage import binary_fill_holes, map_coordinates
from skimage.transform import resize

# nnU-Net v1 `RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD` (nnunet/configuration.py).
ANISOTROPY_THRESHOLD = 3

# LFC `FetalDataset(img_size=128)`.
LFC_GRID = 128

# The part of the nnU-Net v1 plans this script needs (our own JSON form).
DEFAULT_EXPORT_PARAMS = {"force_separate_z": None, "interpolation_order": 1, "interpolation_order_z": 0}


# ---------------------------------------------------------------------------------------------
# Tensor files


def write_tensor(prefix: str | Path, array: np.ndarray, **extra) -> None:
    """PREFIX.f32 (C-order little-endian float32) and PREFIX.json with the shape and `extra`."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    data = np.ascontiguousarray(array, dtype="<f4")
    Path(f"{prefix}.f32").write_bytes(data.tobytes(order="C"))
    meta = {"shape": [int(s) for s in data.shape]}
    meta.update(extra)
    Path(f"{prefix}.json").write_text(json.dumps(_jsonable(meta), indent=1) + "\n")


def read_tensor(prefix: str | Path) -> tuple[np.ndarray, dict]:
    """The tensor and JSON written by `write_tensor` (or by the Swift side in the same form)."""
    meta = json.loads(Path(f"{prefix}.json").read_text())
    shape = tuple(int(s) for s in meta["shape"])
    data = np.fromfile(f"{prefix}.f32", dtype="<f4")
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{prefix}.f32 holds {data.size} values, shape {list(shape)} needs {int(np.prod(shape))}")
    return data.reshape(shape).astype(np.float32), meta


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# ---------------------------------------------------------------------------------------------
# Reading NIfTI the way SimpleITK and nibabel do


def _load_3d(path: str | Path) -> nib.Nifti1Image:
    img = nib.load(str(path))
    shape = img.shape
    if len(shape) > 3:
        img = nib.funcs.squeeze_image(img)  # trailing length-1 axes only
    if len(img.shape) != 3:
        raise ValueError(f"{path}: expected a 3-D image, got shape {list(shape)}")
    return img


def _spacing_ijk(img: nib.Nifti1Image) -> np.ndarray:
    """pixdim[1..3] in mm, as ITK's NiftiImageIO sets the spacing (unit scaled: metre 1e3, micron 1e-3).

    Reading choice: ITK takes the spacing from pixdim, not from the sform columns; the two agree for
    dcm2niix's files. Absolute values (dcm2niix writes positive pixdim)."""
    zooms = np.abs(np.asarray(img.header.get_zooms()[:3], dtype=np.float64))
    unit = img.header.get_xyzt_units()[0]
    return zooms * {"meter": 1e3, "micron": 1e-3}.get(unit, 1.0)


def itk_geometry(img: nib.Nifti1Image) -> dict:
    """Spacing (i, j, k), origin and row-major direction in LPS, as SimpleITK reports them.

    Reading choice: derived from nibabel's affine (sform when its code is set, else qform); ITK may
    prefer the qform, which dcm2niix writes equal to the sform."""
    affine = np.asarray(img.affine, dtype=np.float64)
    spacing = _spacing_ijk(img)
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    columns = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    return {
        "itk_spacing": spacing.tolist(),
        "itk_origin": (ras_to_lps @ affine[:3, 3]).tolist(),
        "itk_direction": (ras_to_lps @ columns).reshape(-1).tolist(),
    }


def read_like_sitk(path: str | Path) -> tuple[np.ndarray, np.ndarray, nib.Nifti1Image]:
    """`sitk.GetArrayFromImage(sitk.ReadImage(path))`: the array [k, j, i] and the spacing [dk, dj, di].

    Values as ITK's NiftiImageIO gives them: the stored type, or float32 for integer data with a
    scl_slope/scl_inter other than 1/0 (rescaled in double, then cast), as in its `MustRescale` and
    `RescaleFunction`."""
    img = _load_3d(path)
    proxy = img.dataobj
    raw = np.asanyarray(proxy.get_unscaled()) if hasattr(proxy, "get_unscaled") else np.asanyarray(proxy)
    slope = float(getattr(proxy, "slope", 1.0))
    inter = float(getattr(proxy, "inter", 0.0))
    if not np.isfinite(slope) or abs(slope) < np.finfo(np.float64).eps:
        slope = 1.0
    if not np.isfinite(inter):
        inter = 0.0
    eps = np.finfo(np.float64).eps
    if abs(slope - 1.0) > eps or abs(inter) > eps:
        target = np.float32 if np.issubdtype(raw.dtype, np.integer) else raw.dtype
        raw = (raw.astype(np.float64) * slope + inter).astype(target)
    array_kji = np.ascontiguousarray(raw.transpose(2, 1, 0))
    spacing_kji = _spacing_ijk(img)[::-1].copy()
    return array_kji, spacing_kji, img


# ---------------------------------------------------------------------------------------------
# nnU-Net v1: cropping (`ImageCropper`, `crop_to_nonzero`)


def create_nonzero_mask(data: np.ndarray) -> np.ndarray:
    """nnU-Net v1 `create_nonzero_mask`: union over channels of value != 0, holes filled (SciPy's default 3-D
    cross structure)."""
    mask = np.zeros(data.shape[1:], dtype=bool)
    for channel in data:
        mask |= channel != 0
    return binary_fill_holes(mask)


def get_bbox_from_mask(mask: np.ndarray) -> list[list[int]]:
    """nnU-Net v1 `get_bbox_from_mask`: [[lo, hi), ...] per axis of the voxels != 0."""
    where = np.nonzero(mask)
    if where[0].size == 0:
        # Upstream fails here too (np.min of an empty array); say so clearly.
        raise ValueError("the image is zero everywhere: nnU-Net v1's crop has no bounding box")
    return [[int(w.min()), int(w.max()) + 1] for w in where]


def crop_to_nonzero(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """nnU-Net v1 `crop_to_nonzero` with no segmentation (inference): the cropped data and the "seg"
    channel [1, ...] of int64, -1 outside the filled mask and 0 inside."""
    mask = create_nonzero_mask(data)
    bbox = get_bbox_from_mask(mask)
    box = tuple(slice(lo, hi) for lo, hi in bbox)
    cropped = np.stack([channel[box] for channel in data])
    seg = np.where(mask[box], 0, -1).astype(np.int64)[None]
    return cropped, seg, bbox


# ---------------------------------------------------------------------------------------------
# nnU-Net v1: resampling (`resample_patient`, `resample_data_or_seg`, batchgenerators `resize_segmentation`)


def get_do_separate_z(spacing) -> bool:
    """nnU-Net v1 `get_do_separate_z`: largest / smallest spacing > 3."""
    spacing = np.asarray(spacing, dtype=np.float64)
    return bool((np.max(spacing) / np.min(spacing)) > ANISOTROPY_THRESHOLD)


def get_lowres_axis(spacing) -> np.ndarray:
    """nnU-Net v1 `get_lowres_axis`: every axis whose spacing equals the largest (exact comparison)."""
    spacing = np.asarray(spacing, dtype=np.float64)
    return np.where(max(spacing) / spacing == 1)[0]


def separate_z_choice(first_spacing, second_spacing, force_separate_z=None) -> tuple[bool, np.ndarray | None]:
    """The (do_separate_z, axis) decision shared by nnU-Net v1 `resample_patient` (first = original spacing,
    second = target) and `save_segmentation_nifti_from_softmax` (first = original spacing, second =
    spacing after resampling): the first spacing is tested before the second; two or three axes tied for
    the largest spacing switch the separate resampling off."""
    if force_separate_z is not None:
        do_separate_z = bool(force_separate_z)
        axis = get_lowres_axis(first_spacing) if do_separate_z else None
    elif get_do_separate_z(first_spacing):
        do_separate_z, axis = True, get_lowres_axis(first_spacing)
    elif get_do_separate_z(second_spacing):
        do_separate_z, axis = True, get_lowres_axis(second_spacing)
    else:
        do_separate_z, axis = False, None
    if axis is not None and len(axis) != 1:
        do_separate_z = False
    return do_separate_z, axis


def resize_segmentation(segmentation: np.ndarray, new_shape, order: int) -> np.ndarray:
    """batchgenerators `resize_segmentation`: order 0 resizes the labels directly; otherwise each label's
    indicator is resized (edge mode, no anti-aliasing) and the label is written where it is >= 0.5, labels in
    ascending order so the last one wins; the rest stays 0."""
    dtype = segmentation.dtype
    new_shape = tuple(int(s) for s in new_shape)
    if order == 0:
        out = resize(segmentation.astype(float), new_shape, order=0, mode="edge", clip=True, anti_aliasing=False)
        return out.astype(dtype)
    out = np.zeros(new_shape, dtype=dtype)
    for label in np.unique(segmentation):
        weight = resize(
            (segmentation == label).astype(float), new_shape, order=order, mode="edge", clip=True, anti_aliasing=False
        )
        out[weight >= 0.5] = label
    return out


def _resize_image(image: np.ndarray, new_shape, order: int) -> np.ndarray:
    # nnU-Net v1 `resample_data_or_seg` for images: skimage `resize` with mode "edge", anti_aliasing False and
    # the defaults otherwise (clip=True, preserve_range=False, which leaves float input as is).
    return resize(image, tuple(int(s) for s in new_shape), order=order, mode="edge", anti_aliasing=False)


def resample_data_or_seg(
    data: np.ndarray, new_shape, is_seg: bool, axis=None, order: int = 3, do_separate_z: bool = False, order_z: int = 0
) -> np.ndarray:
    """nnU-Net v1 `resample_data_or_seg` on [C, d0, d1, d2].

    Unchanged (same dtype, same object) when the shape already matches. Otherwise computed in float64 and
    returned in the input dtype. Separate z: each slice across the low-resolution axis is resized in 2-D
    (order `order`), cast back to the input dtype, the slices stacked, then `map_coordinates` with order
    `order_z` and mode "nearest" samples the full grid at scale * (index + 0.5) - 0.5 on every axis (the
    in-plane axes then land on whole indices)."""
    resize_fn = resize_segmentation if is_seg else _resize_image
    dtype = data.dtype
    shape = np.array(data[0].shape)
    new_shape = np.array(new_shape, dtype=np.int64)
    if not np.any(shape != new_shape):
        return data
    work = data.astype(float)
    channels = []
    if do_separate_z:
        if axis is None or len(axis) != 1:
            raise ValueError("separate z resampling needs exactly one low-resolution axis")
        ax = int(axis[0])
        plane_shape = np.delete(new_shape, ax)
        for c in range(work.shape[0]):
            slices = [
                resize_fn(np.take(work[c], s, axis=ax), plane_shape, order).astype(dtype) for s in range(shape[ax])
            ]
            stacked = np.stack(slices, ax)
            if shape[ax] == new_shape[ax]:
                channels.append(stacked[None].astype(dtype))
                continue
            scales = [float(o) / float(n) for o, n in zip(stacked.shape, new_shape)]
            grids = np.meshgrid(*[np.arange(int(n)) for n in new_shape], indexing="ij")
            coords = np.array([scale * (g + 0.5) - 0.5 for scale, g in zip(scales, grids)])
            if not is_seg or order_z == 0:
                sampled = map_coordinates(stacked, coords, order=order_z, mode="nearest")
                channels.append(sampled[None].astype(dtype))
            else:
                out = np.zeros(tuple(new_shape), dtype=dtype)
                for label in np.unique(stacked):
                    weight = np.round(
                        map_coordinates((stacked == label).astype(float), coords, order=order_z, mode="nearest")
                    )
                    out[weight > 0.5] = label
                channels.append(out[None].astype(dtype))
    else:
        for c in range(work.shape[0]):
            channels.append(resize_fn(work[c], new_shape, order)[None].astype(dtype))
    return np.vstack(channels).astype(dtype)


def resample_patient(
    data: np.ndarray,
    seg: np.ndarray | None,
    original_spacing,
    target_spacing,
    order_data: int = 3,
    order_seg: int = 1,
    force_separate_z=None,
    order_z_data: int = 0,
    order_z_seg: int = 0,
) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """nnU-Net v1 `resample_patient` (orders as `GenericPreprocessor`: data 3, seg 1, both 0 along a separate
    axis). new shape = round(original spacing / target spacing * shape), NumPy's round (half to even)."""
    shape = np.array(data[0].shape)
    ratio = (np.array(original_spacing, dtype=np.float64) / np.array(target_spacing, dtype=np.float64)).astype(float)
    new_shape = np.round(ratio * shape).astype(int)
    do_separate_z, axis = separate_z_choice(original_spacing, target_spacing, force_separate_z)
    data_out = resample_data_or_seg(data, new_shape, False, axis, order_data, do_separate_z, order_z=order_z_data)
    seg_out = None
    if seg is not None:
        seg_out = resample_data_or_seg(seg, new_shape, True, axis, order_seg, do_separate_z, order_z=order_z_seg)
    info = {"do_separate_z": do_separate_z, "lowres_axis": None if axis is None else [int(a) for a in axis]}
    return data_out, seg_out, info


# ---------------------------------------------------------------------------------------------
# nnU-Net v1: intensity (`GenericPreprocessor.resample_and_normalize`)


def normalize(data: np.ndarray, seg: np.ndarray, schemes, use_mask, intensityproperties) -> np.ndarray:
    """In place on float32 `data` [C, ...], per channel as `GenericPreprocessor.resample_and_normalize`.

    CT: clip to [percentile_00_5, percentile_99_5], then (x - mean) / sd, no epsilon; with use_mask_for_norm
    also 0 where seg < 0. CT2: clip, then z-score with the mean/sd of the voxels strictly inside the bounds.
    noNorm: nothing. Anything else (nonCT): z-score over seg >= 0 (then 0 outside) when use_mask_for_norm,
    else over the whole image; divisor std + 1e-8.

    Reading choice: upstream ran with NumPy 1.x, where the plans' float64 statistics did not widen the float32
    arrays; so the statistics are cast to float32 and every step is float32 arithmetic. `std + 1e-8` was a
    float64 scalar sum there (float32 scalar + Python float), then cast to float32 by the division."""
    if not (len(schemes) == len(use_mask) == data.shape[0]):
        raise ValueError("normalization_schemes and use_mask_for_norm need one entry per channel")
    for c in range(data.shape[0]):
        scheme = schemes[c]
        if scheme in ("CT", "CT2"):
            if intensityproperties is None:
                raise ValueError("CT normalisation needs intensityproperties")
            props = intensityproperties[c]
            lower = np.float32(props["percentile_00_5"])
            upper = np.float32(props["percentile_99_5"])
            if scheme == "CT":
                mean, sd = np.float32(props["mean"]), np.float32(props["sd"])
                data[c] = np.clip(data[c], lower, upper)
            else:
                inside = (data[c] > lower) & (data[c] < upper)
                data[c] = np.clip(data[c], lower, upper)
                mean, sd = data[c][inside].mean(), data[c][inside].std()
            data[c] = (data[c] - mean) / sd
            if use_mask[c]:
                data[c][seg[-1] < 0] = 0
        elif scheme == "noNorm":
            continue
        elif use_mask[c]:
            inside = seg[-1] >= 0
            values = data[c][inside]
            divisor = np.float32(float(values.std()) + 1e-8)
            data[c][inside] = (values - values.mean()) / divisor
            data[c][~inside] = 0
        else:
            mean = data[c].mean()
            divisor = np.float32(float(data[c].std()) + 1e-8)
            data[c] = (data[c] - mean) / divisor
    return data


# ---------------------------------------------------------------------------------------------
# nnU-Net v1: the whole preprocessing (`GenericPreprocessor.preprocess_test_case`) and the export


def _per_channel(value, channels: int):
    """A per-channel plans entry as a list: our JSON lists, or nnU-Net's own dicts keyed by channel number."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = [value[k] for k in sorted(value, key=int)]
    if len(value) != channels:
        raise ValueError(f"plans entry has {len(value)} values for {channels} channels")
    return list(value)


def nnunet_preprocess(image_paths, plans: dict) -> tuple[np.ndarray, dict]:
    """Files (one per channel) → the network's input [C, d0, d1, d2] float32 and the properties to go back.

    As `nnUNetTrainer.preprocess_patient` → `GenericPreprocessor.preprocess_test_case`: read
    (`load_case_from_list_of_files`), crop (`ImageCropper.crop`), transpose by transpose_forward, then
    `resample_and_normalize` to the plans' current_spacing with force_separate_z None."""
    arrays, spacings, images = [], [], []
    for path in image_paths:
        array, spacing, img = read_like_sitk(path)
        arrays.append(array)
        spacings.append(spacing)
        images.append(img)
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError("all channels must have the same size")
    data = np.stack(arrays).astype(np.float32)
    original_shape = list(data.shape[1:])
    original_spacing = spacings[0]  # upstream keeps the first channel's geometry

    data, seg, bbox = crop_to_nonzero(data)
    size_after_cropping = list(data.shape[1:])

    forward = [int(a) for a in plans.get("transpose_forward", [0, 1, 2])]
    backward = [int(a) for a in plans.get("transpose_backward", list(np.argsort(forward)))]
    data = data.transpose((0, *[a + 1 for a in forward]))
    seg = seg.transpose((0, *[a + 1 for a in forward]))

    target_spacing = np.asarray(plans.get("target_spacing", plans.get("current_spacing")), dtype=np.float64)
    spacing_transposed = np.asarray(original_spacing)[forward]
    data = np.array(data)  # own, writable copy (the transpose is a view)
    data[np.isnan(data)] = 0
    data, seg, info = resample_patient(data, seg, spacing_transposed, target_spacing)
    seg[seg < -1] = 0
    data = np.array(data, dtype=np.float32)
    channels = data.shape[0]
    normalize(
        data,
        seg,
        _per_channel(plans["normalization_schemes"], channels),
        _per_channel(plans.get("use_mask_for_norm", [False] * channels), channels),
        _per_channel(plans.get("intensityproperties"), channels),
    )

    export_params = dict(DEFAULT_EXPORT_PARAMS)
    export_params.update(plans.get("segmentation_export_params") or {})
    properties = {
        "original_size_of_raw_data": original_shape,
        "original_spacing": [float(s) for s in original_spacing],
        "crop_bbox": bbox,
        "size_after_cropping": size_after_cropping,
        "transpose_forward": forward,
        "transpose_backward": backward,
        "spacing_after_resampling": [float(s) for s in target_spacing],
        "size_after_resampling": list(data.shape[1:]),
        "do_separate_z": info["do_separate_z"],
        "lowres_axis": info["lowres_axis"],
        "segmentation_export_params": export_params,
        "nifti_affine": np.asarray(images[0].affine).tolist(),
        "image_files": [str(p) for p in image_paths],
        **itk_geometry(images[0]),
    }
    return data.astype(np.float32), properties


def nnunet_export(probabilities: np.ndarray, properties: dict) -> tuple[np.ndarray, dict]:
    """Class maps [K, d0, d1, d2] on the network's grid → labels [k, j, i] on the file's grid.

    As `predict_cases` (transpose back by transpose_backward) then `save_segmentation_nifti_from_softmax`:
    resample to the cropped shape (`resample_data_or_seg`, is_seg False, interpolation_order 1, order_z 0 along
    a separate axis), argmax (first class on ties), paste into zeros at the crop box (stored there as uint8).

    Reading choice: the separate-z decision tests the original spacing, then spacing_after_resampling, both as
    upstream passes them; the latter is in transposed order while the maps have been transposed back (a
    mismatch only when transpose_forward is not the identity, kept as upstream has it)."""
    backward = [int(a) for a in properties["transpose_backward"]]
    maps = np.asarray(probabilities, dtype=np.float32).transpose((0, *[a + 1 for a in backward]))
    target_shape = [int(s) for s in properties["size_after_cropping"]]
    params = dict(DEFAULT_EXPORT_PARAMS)
    params.update(properties.get("segmentation_export_params") or {})
    info = {"do_separate_z": False, "lowres_axis": None, "resampled": False}
    if any(int(a) != b for a, b in zip(maps.shape[1:], target_shape)):
        do_separate_z, axis = separate_z_choice(
            properties["original_spacing"], properties["spacing_after_resampling"], params["force_separate_z"]
        )
        maps = resample_data_or_seg(
            np.ascontiguousarray(maps),
            target_shape,
            False,
            axis,
            int(params["interpolation_order"]),
            do_separate_z,
            order_z=int(params["interpolation_order_z"]),
        )
        info = {
            "do_separate_z": do_separate_z,
            "lowres_axis": None if axis is None else [int(a) for a in axis],
            "resampled": True,
        }
    labels = maps.argmax(0)
    original_shape = [int(s) for s in properties["original_size_of_raw_data"]]
    out = np.zeros(original_shape, dtype=np.uint8)
    box = []
    for c, (lo, _) in enumerate(properties["crop_bbox"]):
        hi = min(int(lo) + labels.shape[c], original_shape[c])
        box.append(slice(int(lo), hi))
    out[tuple(box)] = labels
    return out.astype(np.float32), info


# ---------------------------------------------------------------------------------------------
# Classification (ADNI)


def adni_preprocess(path) -> tuple[np.ndarray, dict]:
    """`get_mri` in classification/data_declaration.py: nibabel `get_fdata()` (float64, scaled), a leading
    channel axis, float32; the resize, crops, min-max scaling and MONAI transforms there are commented out."""
    img = _load_3d(path)
    mri = np.expand_dims(img.get_fdata(), axis=0)
    return np.asarray(mri).astype(np.float32), {"nifti_affine": np.asarray(img.affine).tolist()}


# ---------------------------------------------------------------------------------------------
# Landmarks (LFC)


def lfc_window(volume: np.ndarray) -> tuple[np.ndarray, dict]:
    """LFC `window_image`: level = mean and width = 4 * std of the voxels > 0, clip to level ± width / 2,
    (x - low) / width * 255, float32.

    Reading choice: upstream's NumPy 1.x made 4 * std, low and high float64 scalars, then cast them to the
    array's dtype in the array operations; the same is done here (for a float64 volume nothing changes)."""
    positive = volume[volume > 0]
    mean = np.mean(positive)
    std = np.std(positive)
    width = np.float64(4) * np.float64(std)
    low = np.float64(mean) - width / 2
    high = np.float64(mean) + width / 2
    dtype = volume.dtype.type
    clipped = np.clip(volume, dtype(low), dtype(high))
    out = (clipped - dtype(low)) / dtype(width) * dtype(255)
    stats = {"mean": float(mean), "std": float(std), "low": float(low), "high": float(high)}
    return out.astype(np.float32), stats


def lfc_preprocess(path, grid: int = LFC_GRID) -> tuple[np.ndarray, dict]:
    """LFC `FetalDataset.process_image`: SimpleITK array [k, j, i] in its stored type, skimage
    `resize(..., (128, 128, 128), order=1, preserve_range=True)` (mode "reflect", clip True and anti-aliasing
    when shrinking, by skimage's defaults), then `window_image`. The cubic padding there is commented out."""
    array_kji, _, img = read_like_sitk(path)
    resized = resize(array_kji, (grid, grid, grid), order=1, preserve_range=True)
    windowed, stats = lfc_window(resized)
    extra = {
        "original_shape_kji": list(array_kji.shape),
        "sitk_size_ijk": list(array_kji.shape[::-1]),
        "nifti_affine": np.asarray(img.affine).tolist(),
        "window": stats,
        **itk_geometry(img),
    }
    return windowed[None], extra


def lfc_grid_to_voxel(index, size_ijk, grid: int, scaling: str = "upstream") -> np.ndarray:
    """A heat-map grid index (a0, a1, a2) → continuous voxel index (i, j, k) of the file.

    upstream: LFC's `process_image` computes factor = grid / GetSize() = (grid/si, grid/sj, grid/sk) and then
    swaps its first and last entries; `get_anno` divides (position − origin) by spacing / factor, so the target
    heat-map holds (i·grid/sk, j·grid/sj, k·grid/si), and `eval_3d.py` multiplies the argmax back by
    spacing / factor. Inverting exactly that: i = a0·sk/grid, j = a1·sj/grid, k = a2·si/grid (no half-voxel
    shift). It differs from the per-axis reading only where si ≠ sk.
    per-axis: i = a0·si/grid, j = a1·sj/grid, k = a2·sk/grid."""
    si, sj, sk = (float(s) for s in size_ijk)
    a = np.asarray(index, dtype=np.float64)
    if scaling == "upstream":
        factor = np.array([grid / sk, grid / sj, grid / si])
    elif scaling == "per-axis":
        factor = np.array([grid / si, grid / sj, grid / sk])
    else:
        raise ValueError(f"unknown scaling {scaling!r}")
    return a / factor


def lfc_landmarks(heatmaps: np.ndarray, image_path, scaling: str = "upstream") -> dict:
    """Per channel of [L, g, g, g]: the argmax (first maximum in C order, as `get_points_from_heatmap_torch`),
    read as (i, j, k) on the grid, to the file's voxel index (`lfc_grid_to_voxel`), then through the NIfTI
    affine (RAS) to DICOM LPS (x and y negated). Also, as `upstream_lps`, what LFC itself computes:
    SimpleITK's origin + index · spacing / factor, the direction ignored."""
    if heatmaps.ndim != 4 or not (heatmaps.shape[1] == heatmaps.shape[2] == heatmaps.shape[3]):
        raise ValueError(f"heat-maps must be [L, g, g, g], got {list(heatmaps.shape)}")
    grid = int(heatmaps.shape[1])
    img = _load_3d(image_path)
    size_ijk = [int(s) for s in img.shape]
    affine = np.asarray(img.affine, dtype=np.float64)
    geometry = itk_geometry(img)
    spacing = np.asarray(geometry["itk_spacing"])
    origin = np.asarray(geometry["itk_origin"])
    landmarks = []
    for c in range(heatmaps.shape[0]):
        flat = int(np.argmax(heatmaps[c].reshape(-1)))
        index = [int(v) for v in np.unravel_index(flat, heatmaps.shape[1:])]
        voxel = lfc_grid_to_voxel(index, size_ijk, grid, scaling)
        ras = affine @ np.append(voxel, 1.0)
        lps = [-ras[0], -ras[1], ras[2]]
        landmarks.append(
            {
                "channel": c,
                "grid_index": index,
                "voxel_ijk": voxel.tolist(),
                "lps": [float(v) for v in lps],
                "upstream_lps": (origin + voxel * spacing).tolist(),
            }
        )
    return {"landmarks": landmarks, "scaling": scaling, "grid": grid, "size_ijk": size_ijk}


# ---------------------------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("nnunet-preprocess", help="nnU-Net v1 preprocessing → [C, d0, d1, d2]")
    p.add_argument("--image", action="append", required=True, help="one file per channel, in channel order")
    p.add_argument("--plans", required=True, help="plans subset (JSON)")
    p.add_argument("--out", required=True, help="output prefix (PREFIX.f32, PREFIX.json)")

    p = sub.add_parser("nnunet-export", help="nnU-Net v1 export of class maps → labels [k, j, i]")
    p.add_argument("--probabilities", required=True, help="prefix of [K, d0, d1, d2] on the network's grid")
    p.add_argument("--properties", required=True, help="the JSON written by nnunet-preprocess")
    p.add_argument("--out", required=True, help="output prefix")

    p = sub.add_parser("adni-preprocess", help="classification input [1, i, j, k]")
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("lfc-preprocess", help="LFC landmark input [1, 128, 128, 128]")
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("lfc-landmarks", help="LFC heat-maps → landmark positions (JSON)")
    p.add_argument("--heatmaps", required=True, help="prefix of [L, 128, 128, 128]")
    p.add_argument("--image", required=True, help="the NIfTI file the input was made from")
    p.add_argument("--out", required=True, help="output JSON file")
    p.add_argument("--scaling", choices=["upstream", "per-axis"], default="upstream")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "nnunet-preprocess":
        plans = json.loads(Path(args.plans).read_text())
        data, properties = nnunet_preprocess(args.image, plans)
        write_tensor(args.out, data, **properties)
    elif args.command == "nnunet-export":
        probabilities, _ = read_tensor(args.probabilities)
        properties = json.loads(Path(args.properties).read_text())
        labels, info = nnunet_export(probabilities, properties)
        write_tensor(args.out, labels, **info, nifti_affine=properties.get("nifti_affine"))
    elif args.command == "adni-preprocess":
        data, extra = adni_preprocess(args.image)
        write_tensor(args.out, data, **extra)
    elif args.command == "lfc-preprocess":
        data, extra = lfc_preprocess(args.image)
        write_tensor(args.out, data, **extra)
    elif args.command == "lfc-landmarks":
        heatmaps, _ = read_tensor(args.heatmaps)
        result = lfc_landmarks(heatmaps, args.image, args.scaling)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(_jsonable(result), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
