"""oar: PaddlePaddle's optimizers on PyTorch tensors, with Paddle's numerics.

Mirrors ``paddle.optimizer`` (optimizers, ``oar.lr`` schedulers), ``paddle.regularizer``
(L1Decay, L2Decay) and Paddle's gradient clipping (ClipGradBy*). Every optimizer is also a
``torch.optim.Optimizer``.
"""
from . import lr
from .adadelta import Adadelta
from .adam import Adam
from .adamw import AdamW
from .adamax import Adamax
from .adagrad import Adagrad
from .clip import ClipGradBase, ClipGradByGlobalNorm, ClipGradByNorm, ClipGradByValue
from .lamb import Lamb
from .nadam import NAdam
from .momentum import Momentum
from .optimizer import Optimizer
from .param_groups import param_groups_weight_decay
from .params import set_param_attr
from .radam import RAdam
from .regularizer import L1Decay, L2Decay
from .rmsprop import RMSProp
from .sgd import SGD
from .asgd import ASGD
from .rprop import Rprop
from .lbfgs import LBFGS

__version__ = "0.1.0"

__all__ = [
    "Optimizer", "Adadelta", "NAdam", "RAdam", "Adam", "AdamW", "Adamax", "Adagrad", "Lamb", "Momentum", "RMSProp", "SGD", "ASGD", "Rprop", "LBFGS",
    "L1Decay", "L2Decay",
    "ClipGradBase", "ClipGradByValue", "ClipGradByNorm", "ClipGradByGlobalNorm",
    "set_param_attr", "param_groups_weight_decay", "lr",
]
