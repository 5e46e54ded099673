"""The conformance harness (node.md §9) and the demo's shared pieces: the real peers (Orthanc,
the node, DCMTK's tools), the table of samples, and the validators run on every result."""
