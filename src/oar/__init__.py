"""oar: PaddlePaddle's optimizers on PyTorch tensors, with Paddle's numerics.

Mirrors ``paddle.optimizer`` (optimizers, ``oar.lr`` schedulers), ``paddle.regularizer``
(L1Decay, L2Decay) and Paddle's gradient clipping (ClipGradBy*). Every optimizer is also a
``torch.optim.Optimizer``.
"""
from . import lr
from .adam import Adam
from .clip import ClipGradBase, ClipGradByGlobalNorm, ClipGradByNorm, ClipGradByValue
from .lamb import Lamb
from .optimizer import Optimizer
from .params import set_param_attr
from .regularizer import L1Decay, L2Decay
from .rmsprop import RMSProp

__version__ = "0.1.0"

__all__ = [
    "Optimizer", "Adam", "Lamb", "RMSProp",
    "L1Decay", "L2Decay",
    "ClipGradBase", "ClipGradByValue", "ClipGradByNorm", "ClipGradByGlobalNorm",
    "set_param_attr", "lr",
]
