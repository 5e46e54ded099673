#!/usr/bin/env python3
"""Re-encodes DICOM files with every data element as explicit VR UN, as an archive or forwarder
that does not know them writes them (PS3.5 6.2.2), keeping the values' bytes.

Usage: un_encode.py SOURCE_DIR OUT_DIR

Group 0002 (the meta header), Pixel Data and sequences stay as they are; every other element
becomes UN with its value encoded as the dictionary VR would encode it (little endian).
"""

import os
import sys

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element


def raw_value(element):
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_data_element(buffer, element)
    return buffer.getvalue()[8:]  # tag (4 bytes) and 32-bit length (4 bytes) precede the value


def main() -> int:
    source, out = sys.argv[1:3]
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(source)):
        ds = pydicom.dcmread(os.path.join(source, name))
        for element in list(ds):
            if element.tag.group == 0x0002 or element.tag == 0x7FE00010 or element.VR in ("SQ", "UN"):
                continue
            value = raw_value(element)
            # A raw element is written as it is; a DataElement with VR UN would be written with the
            # dictionary's VR again.
            ds._dict[element.tag] = RawDataElement(element.tag, "UN", len(value), value, 0, False, True)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        ds.save_as(os.path.join(out, name), implicit_vr=False, little_endian=True, enforce_file_format=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
