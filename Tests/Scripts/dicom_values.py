#!/usr/bin/env python3
"""Prints values of a DICOM file as pydicom decodes them (its character set applied).

Usage: dicom_values.py FILE KEYWORD_PATH...   e.g. StructureSetROISequence[0].ROIName
One line per path: "PATH = VALUE".
"""

import re
import sys

import pydicom


def value(ds, path):
    for part in path.split("."):
        match = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", part)
        ds = getattr(ds, match.group(1))
        if match.group(2) is not None:
            ds = ds[int(match.group(2))]
    return ds


def main() -> int:
    ds = pydicom.dcmread(sys.argv[1])
    for path in sys.argv[2:]:
        print(f"{path} = {value(ds, path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
