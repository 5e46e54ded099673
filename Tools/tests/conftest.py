import os
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
REPO = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)

torch.set_num_threads(2)

# The shared golden fixtures sit next to the repository (../shared/golden/nnmamba), as the Swift
# tests find them; NNMAMBA_GOLDEN overrides.
GOLDEN = os.environ.get("NNMAMBA_GOLDEN", os.path.join(REPO, "..", "shared", "golden", "nnmamba"))
# The mambanode binary for package checks; MAMBANODE overrides.
MAMBANODE = os.environ.get("MAMBANODE", os.path.join(REPO, ".build", "release", "mambanode"))


@pytest.fixture
def golden():
    if not os.path.isdir(GOLDEN):
        pytest.skip(f"golden fixtures not found at {GOLDEN} (set NNMAMBA_GOLDEN)")
    return GOLDEN


@pytest.fixture
def mambanode():
    if not os.access(MAMBANODE, os.X_OK):
        pytest.skip(f"mambanode binary not found at {MAMBANODE} (build it with `swift build -c release`, or set MAMBANODE)")
    return MAMBANODE
