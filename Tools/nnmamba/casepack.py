"""A pack of prepared training cases: what train.py's load_cases makes of a case folder (the
tensor the node would feed the network, and its truth), in one compact file, so training can run
on a machine that has neither the NIfTI files nor a NIfTI reader (pack_cases.py writes one).

Each tensor channel is quantised to 8 bits over its own [min, max]: the error is at most half a
step, (max − min) / 510 — for CT's normalisation (a 600 HU window) 0.0098 normalised units,
1.2 HU, well below the noise of a 4 mm voxel and the noise augmentation adds on top. The file is
an .npz compressed with xz (about a third of the 8-bit size on the CT phantoms; zip's deflate
does worse), and it records the spec fields that shaped the tensors, so a pack is never used with
a spec that would prepare cases differently.
"""

import io
import json
import lzma

import numpy as np

# The spec fields that decide the prepared tensors and truths; a pack is valid only for these.
SPEC_KEYS = ("task", "inputs", "target_spacing", "labels", "landmarks")


class PackError(Exception):
    pass


def _shaping(spec):
    return {key: spec.get(key) for key in SPEC_KEYS}


def write_pack(path, cases, spec, crop_to_nonzero, truth_key="lesion"):
    arrays = {}
    for i, (tensor, truth, name) in enumerate(cases):
        low = tensor.reshape(tensor.shape[0], -1).min(1).astype(np.float32)
        high = tensor.reshape(tensor.shape[0], -1).max(1).astype(np.float32)
        span = np.maximum(high - low, 1e-12)[:, None, None, None]
        arrays[f"image_{i}"] = np.clip(np.rint((tensor - low[:, None, None, None]) / span * 255), 0, 255).astype(
            np.uint8
        )
        arrays[f"low_{i}"], arrays[f"high_{i}"] = low, high
        arrays[f"truth_{i}"] = np.asarray(truth)
    header = {
        "cases": [name for _, _, name in cases],
        "spec": _shaping(spec),
        "crop_to_nonzero": bool(crop_to_nonzero),
        "truth_key": truth_key,
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with open(path, "wb") as f:
        f.write(lzma.compress(buffer.getvalue(), preset=6))


def read_pack(path, spec, crop_to_nonzero, truth_key="lesion"):
    """[(tensor float32 [C, D, H, W], truth, name)] as load_cases returns them (up to the quantisation)."""
    try:
        with open(path, "rb") as f:
            data = np.load(io.BytesIO(lzma.decompress(f.read())))
        header = json.loads(data["header"].tobytes().decode())
    except (OSError, lzma.LZMAError, ValueError, KeyError) as error:
        raise PackError(f"{path}: not a case pack ({error})") from error
    expected = json.loads(json.dumps(_shaping(spec)))  # as the header stores it (tuples become lists)
    changed = [key for key in SPEC_KEYS if header["spec"].get(key) != expected[key]]
    if changed:
        raise PackError(f"{path}: packed for another spec (differs in {', '.join(changed)}); pack the cases again")
    if header["crop_to_nonzero"] != bool(crop_to_nonzero):
        raise PackError(f"{path}: packed with crop_to_nonzero={header['crop_to_nonzero']}; pack the cases again")
    # Classification truths were read under this truth.json key when packing.
    if spec["task"] == "classification" and header.get("truth_key") != truth_key:
        raise PackError(
            f"{path}: packed with truth key {header.get('truth_key')!r}, not {truth_key!r}; pack the cases again"
        )
    cases = []
    for i, name in enumerate(header["cases"]):
        q, low, high = data[f"image_{i}"], data[f"low_{i}"], data[f"high_{i}"]
        tensor = q.astype(np.float32) / 255 * (high - low)[:, None, None, None] + low[:, None, None, None]
        cases.append((tensor.astype(np.float32), data[f"truth_{i}"], name))
    return cases
