"""oar: PaddlePaddle's optimizers on PyTorch tensors, with Paddle's numerics.

Mirrors ``paddle.optimizer`` (optimizers, ``oar.lr`` schedulers), ``paddle.regularizer``
(L1Decay, L2Decay) and Paddle's gradient clipping (ClipGradBy*). Every optimizer is also a
``torch.optim.Optimizer``.
"""

from . import lr
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .clip import ClipGradBase, ClipGradByGlobalNorm, ClipGradByNorm, ClipGradByValue
from .lamb import Lamb
from .lbfgs import LBFGS
from .momentum import Momentum
from .nadam import NAdam
from .optimizer import Optimizer
from .param_groups import param_groups_weight_decay
from .params import set_param_attr
from .radam import RAdam
from .regularizer import L1Decay, L2Decay
from .rmsprop import RMSProp
from .rprop import Rprop
from .sgd import SGD

__version__ = "0.1.0"

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "ClipGradBase",
    "ClipGradByGlobalNorm",
    "ClipGradByNorm",
    "ClipGradByValue",
    "L1Decay",
    "L2Decay",
    "Lamb",
    "Momentum",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSProp",
    "Rprop",
    "lr",
    "param_groups_weight_decay",
    "set_param_attr",
]
