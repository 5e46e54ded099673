// The nnMamba engine (nnmamba-architecture.md). Knows nothing of DICOM.
