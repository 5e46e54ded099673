"""Our PyTorch definition of nnMamba, written from docs/nnmamba-architecture.md
(not copied from upstream); state_dict keys identical to the official code."""

from .layers import CLS, CSS, NNUNET, Attentionlayer, BasicBlock, DoubleConv, MambaLayer, make_res_layer, upsample
from .mamba import Mamba, set_scan
from .networks import build, nnMambaEncoder, nnMambaSeg
from .scan import selective_scan_chunked, selective_scan_ref
