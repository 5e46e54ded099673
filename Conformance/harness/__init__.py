"""The conformance harness (docs/conformance.md) and the demo's shared pieces: the real peers (Orthanc,
the node, DCMTK's tools), the table of samples, and the validators run on every result."""
