#!/usr/bin/env python3
"""scikit-image's `resize` of a raw float32 volume, for GridResizeTests.

    skimage_resize.py IN.f32 NZ NY NX OUT.f32 MZ MY MX ORDER MODE ANTI_ALIASING

IN.f32 and OUT.f32 are C-order little-endian float32 arrays of shape (NZ, NY, NX) and (MZ, MY, MX);
ORDER is 0, 1 or 3, MODE a scikit-image mode ("edge", "reflect"), ANTI_ALIASING 0 or 1. The input
is resized in float64 with clip=True, as nnU-Net v1 and LFC call it, and written as float32."""

import sys

import numpy as np
from skimage.transform import resize


def main(argv):
    source, nz, ny, nx, target, mz, my, mx, order, mode, anti = argv
    data = np.fromfile(source, dtype="<f4").reshape(int(nz), int(ny), int(nx)).astype(np.float64)
    out = resize(data, (int(mz), int(my), int(mx)), order=int(order), mode=mode, anti_aliasing=anti == "1", clip=True)
    out.astype("<f4").tofile(target)


if __name__ == "__main__":
    main(sys.argv[1:])
