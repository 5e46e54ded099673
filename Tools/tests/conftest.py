import glob
import os
import subprocess
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
REPO = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)

torch.set_num_threads(2)

# The golden fixtures are in the repository (Tests/Fixtures/golden/nnmamba, as the Swift tests find
# them); NNMAMBA_GOLDEN points at another copy.
GOLDEN = os.environ.get("NNMAMBA_GOLDEN", os.path.join(REPO, "Tests", "Fixtures", "golden", "nnmamba"))


def _mambanode():
    """The mambanode binary for package checks: $MAMBANODE, else this checkout's release build
    (.build, or a scratch path .build-*)."""
    if "MAMBANODE" in os.environ:
        return os.environ["MAMBANODE"]
    candidates = [os.path.join(REPO, ".build", "release", "mambanode")]
    candidates += sorted(glob.glob(os.path.join(REPO, ".build-*", "release", "mambanode")))
    return next((c for c in candidates if os.access(c, os.X_OK)), candidates[0])


MAMBANODE = _mambanode()


@pytest.fixture
def golden():
    if not os.path.isdir(GOLDEN):
        pytest.skip(f"golden fixtures not found at {GOLDEN} (set NNMAMBA_GOLDEN)")
    return GOLDEN


@pytest.fixture
def mambanode():
    if not os.access(MAMBANODE, os.X_OK):
        pytest.skip(
            f"mambanode binary not found at {MAMBANODE} (build it with `swift build -c release`, or set MAMBANODE)"
        )
    return MAMBANODE


@pytest.fixture
def mambanode_raw(mambanode):
    """A mambanode whose `infer` has --raw-output (the parity check needs the raw network output)."""
    help_text = subprocess.run([mambanode, "infer", "--help"], capture_output=True, text=True).stdout
    if "--raw-output" not in help_text:
        pytest.skip(f"{mambanode} predates `infer --raw-output`; rebuild it (or set MAMBANODE)")
    return mambanode
