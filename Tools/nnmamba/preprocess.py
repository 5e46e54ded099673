"""The node's preprocessing (Sources/Node/Inference/InferencePipeline+Preprocessing.swift,
docs/inference.md) in NumPy, so training feeds the network what the node will feed it:

NIfTI (RAS) -> LPS grid -> canonical axis order (i, j, k along +x, +y, +z of LPS; no voxel moves)
-> optional crop to the non-zero box -> resampling to the target spacing (cubic B-spline from the
edge-padded volume, grid edge to edge) -> per-channel normalisation -> tensor (D, H, W) = (k, j, i).

A grid is (size (3,), spacing (3,), origin (3,), direction (3, 3) with columns along i, j, k), all
in LPS mm, as the Swift `Geometry`.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


@dataclass
class Grid:
    size: np.ndarray  # voxels along i, j, k
    spacing: np.ndarray  # mm
    origin: np.ndarray  # LPS mm of voxel (0, 0, 0)
    direction: np.ndarray  # 3×3, column a = unit vector of index axis a in LPS

    @property
    def matrix(self):
        """Index -> LPS (without the origin)."""
        return self.direction * self.spacing[None, :]

    def patient(self, index):
        return self.origin + self.matrix @ np.asarray(index, dtype=np.float64)

    def index(self, patient):
        return np.linalg.solve(self.matrix, np.asarray(patient, dtype=np.float64) - self.origin)


def read_nifti(path):
    """(voxels [i, j, k] float32 with scl_slope/inter applied, Grid in LPS). The sform is used
    when its code is set, else the qform — as nibabel's `affine` and the node's reader."""
    import nibabel as nib  # here, not at the top: training from a pack (pack_cases.py) needs no NIfTI reader

    img = nib.load(path)
    data = np.asarray(img.dataobj, dtype=np.float64)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D volume, found shape {data.shape}")
    lps = RAS_TO_LPS @ img.affine[:3, :4]
    m = lps[:, :3]
    spacing = np.linalg.norm(m, axis=0)
    return data.astype(np.float32), Grid(np.array(data.shape), spacing, lps[:, 3].copy(), m / spacing[None, :])


def write_nifti(path, voxels, grid, dtype=np.float32):
    """The inverse of read_nifti (for tests and synthetic data)."""
    import nibabel as nib

    affine = np.eye(4)
    affine[:3, :3] = RAS_TO_LPS @ grid.matrix
    affine[:3, 3] = RAS_TO_LPS @ grid.origin
    img = nib.Nifti1Image(np.asarray(voxels, dtype=dtype), affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    nib.save(img, path)


def canonical(voxels, grid):
    """The same voxels with index axes permuted/flipped to run along +x, +y, +z of LPS (Swift
    `Geometry.canonical`: strongest alignments assigned first). Returns (voxels, grid, axis_for)."""
    d = grid.direction
    pairs = sorted(((a, p, abs(d[p, a])) for a in range(3) for p in range(3)), key=lambda t: -t[2])
    axis_for, used = [-1, -1, -1], set()
    for a, p, _ in pairs:
        if axis_for[p] == -1 and a not in used:
            axis_for[p] = a
            used.add(a)
    out = np.transpose(voxels, axis_for)
    corner = np.zeros(3)
    columns = []
    for p in range(3):
        a = axis_for[p]
        flip = d[p, a] < 0
        columns.append(-d[:, a] if flip else d[:, a])
        if flip:
            corner[a] = grid.size[a] - 1
            out = np.flip(out, axis=p)
    g = Grid(grid.size[axis_for].copy(), grid.spacing[axis_for].copy(), grid.patient(corner), np.stack(columns, axis=1))
    return np.ascontiguousarray(out), g, axis_for


def nonzero_box(channels):
    """(lower, upper) of the voxels non-zero in any channel, or None for the whole grid / nothing."""
    mask = np.any(np.stack([c != 0 for c in channels]), axis=0)
    if not mask.any():
        return None
    idx = np.nonzero(mask)
    lower = np.array([i.min() for i in idx])
    upper = np.array([i.max() + 1 for i in idx])
    if (lower == 0).all() and (upper == mask.shape).all():
        return None
    return lower, upper


def crop(voxels, grid, lower, upper):
    sl = tuple(slice(lo, hi) for lo, hi in zip(lower, upper))
    return voxels[sl], Grid(
        np.array(upper) - np.array(lower), grid.spacing.copy(), grid.patient(lower), grid.direction.copy()
    )


def _round(x):
    return int(math.floor(x + 0.5))  # Swift's .rounded(): half away from zero (x > 0 here)


def resampled_grid(grid, target):
    """The grid at `target` spacing covering `grid`'s field of view edge to edge: n' = round(n·s/t)."""
    size = np.zeros(3, dtype=int)
    spacing = np.zeros(3)
    shift = np.zeros(3)
    for a in range(3):
        extent = grid.size[a] * grid.spacing[a]
        size[a] = max(1, _round(extent / target[a]))
        spacing[a] = extent / size[a]
        shift[a] = (spacing[a] - grid.spacing[a]) / 2
    return Grid(size, spacing, grid.origin + grid.direction @ shift, grid.direction.copy())


def _target_coordinates(source, target):
    """Continuous indices in the edge-padded source of every target voxel centre, [3, n_i, n_j, n_k]."""
    padded_origin = source.patient([-1, -1, -1])
    m = np.linalg.solve(source.matrix, target.matrix)
    t = np.linalg.solve(source.matrix, target.origin - padded_origin)
    ii, jj, kk = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in target.size], indexing="ij")
    return np.einsum("ab,bijk->aijk", m, np.stack([ii, jj, kk])) + t[:, None, None, None]


def resample(voxels, source, target, order=3):
    """Values on `target` from the edge-padded source: order 3 = cubic B-spline with mirror
    boundaries (the node's `.bspline3`), 1 = linear, 0 = nearest (labels, masks)."""
    padded = np.pad(voxels, 1, mode="edge").astype(np.float64)
    c = _target_coordinates(source, target)
    if order == 0:
        idx = [np.clip(np.floor(c[a] + 0.5).astype(int), 0, padded.shape[a] - 1) for a in range(3)]
        return padded[idx[0], idx[1], idx[2]].astype(voxels.dtype)
    return ndimage.map_coordinates(padded, c, order=order, mode="mirror", prefilter=order > 1).astype(np.float32)


def same_grid(a, b, tol=1e-9):
    return (
        (a.size == b.size).all()
        and np.abs(a.spacing - b.spacing).max() < tol
        and np.abs(a.origin - b.origin).max() < tol
    )


def normalise(x, norm, mask):
    """One channel (float32), per the manifest's normalization entry."""
    kind = norm["kind"]
    if kind == "none":
        return x.astype(np.float32)
    if kind == "ct":
        lo, hi = norm["clip"]
        return ((np.clip(x, lo, hi) - np.float32(norm["mean"])) / np.float32(max(norm["std"], 1e-8))).astype(np.float32)
    use = mask if norm.get("nonzero_mask") and mask is not None else np.ones(x.shape, dtype=bool)
    values = x[use].astype(np.float64)
    mean = values.mean() if values.size else 0.0
    std = math.sqrt(max((values**2).mean() - mean * mean, 0.0)) if values.size else 0.0
    out = ((x.astype(np.float64) - mean) / (std + 1e-8)).astype(np.float32)
    out[~use] = 0
    return out


@dataclass
class Prepared:
    tensor: np.ndarray  # [C, D, H, W] float32, (D, H, W) = (k, j, i) of `grid`
    grid: Grid  # the resampled canonical grid (before padding)
    canonical: Grid
    source: Grid
    axis_for: list  # canonical axis p comes from source axis axis_for[p]
    crop_lower: np.ndarray


def prepare(channels, grid, manifest, crop_to_nonzero=False):
    """channels: list of [i, j, k] arrays on `grid` (one per manifest input) -> Prepared."""
    source = grid
    canon = [canonical(c, grid) for c in channels]
    vols = [c[0] for c in canon]
    cgrid, axis_for = canon[0][1], canon[0][2]
    lower = np.zeros(3, dtype=int)
    if crop_to_nonzero:
        box = nonzero_box(vols)
        if box is not None:
            lower = box[0]
            cropped = [crop(v, cgrid, *box) for v in vols]
            vols, cgrid_c = [c[0] for c in cropped], cropped[0][1]
        else:
            cgrid_c = cgrid
    else:
        cgrid_c = cgrid
    target = np.asarray(manifest["target_spacing"], dtype=np.float64)
    rgrid = resampled_grid(cgrid_c, target)
    uses_mask = any(
        i["normalization"].get("kind") == "zscore" and i["normalization"].get("nonzero_mask")
        for i in manifest["inputs"]
    )
    mask = None
    if (rgrid.size == cgrid_c.size).all() and max(
        np.abs(rgrid.spacing - cgrid_c.spacing).max(), np.abs(rgrid.origin - cgrid_c.origin).max()
    ) < 1e-9:
        rgrid = cgrid_c
        if uses_mask:
            mask = np.any(np.stack([v != 0 for v in vols]), axis=0)
    else:
        if uses_mask:
            m = np.any(np.stack([v != 0 for v in vols]), axis=0).astype(np.float32)
            mask = resample(m, cgrid_c, rgrid, order=0) != 0
        vols = [resample(v, cgrid_c, rgrid, order=3) for v in vols]
    out = np.stack([normalise(v, inp["normalization"], mask) for v, inp in zip(vols, manifest["inputs"])])
    tensor = np.ascontiguousarray(out.transpose(0, 3, 2, 1))
    return Prepared(tensor, rgrid, cgrid, source, axis_for, lower)


def labels_to_grid(labels, source, prepared):
    """A label map on the source grid -> on the prepared grid (canonical, cropped, resampled;
    nearest), as [D, H, W] int64."""
    v, g, _ = canonical(labels, source)
    if prepared.crop_lower.any() or not same_grid(g, prepared.grid):
        # nearest straight from the canonical grid onto the resampled one (patient space)
        v = resample(v.astype(np.float32), g, prepared.grid, order=0)
    return np.ascontiguousarray(np.rint(v).astype(np.int64).transpose(2, 1, 0))


def patient_to_tensor_index(point_lps, grid):
    """LPS mm -> continuous (d, h, w) on the prepared tensor's grid."""
    i, j, k = grid.index(point_lps)
    return np.array([k, j, i])


def tensor_index_to_patient(dhw, grid):
    return grid.patient([dhw[2], dhw[1], dhw[0]])
