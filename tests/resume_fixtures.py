"""Training fixtures shared by the exact-resume test and its fresh-process half (no Paddle import)."""

import torch

import oar


def _train(opt_factory, steps, seed=0, model=None):
    torch.manual_seed(seed)
    model = model or torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = opt_factory(model)
    return model, opt


OPTIMIZERS = {
    "adam": lambda m: oar.Adam(
        m.parameters(),
        learning_rate=oar.lr.StepDecay(0.01, 3),
        amsgrad=True,
        weight_decay=oar.L1Decay(0.01),
        grad_clip=oar.ClipGradByGlobalNorm(1.0),
    ),
    "lamb": lambda m: oar.Lamb(
        [{"params": [m[0].weight], "learning_rate": 0.5}, {"params": list(m.parameters())[1:]}],
        learning_rate=oar.lr.LinearWarmup(oar.lr.CosineAnnealingDecay(0.01, 10), 3, 0.0, 0.01),
    ),
    "rmsprop": lambda m: oar.RMSProp(
        m.parameters(), learning_rate=0.01, centered=True, momentum=0.9, weight_decay=0.01
    ),
}


def _batches(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(16, 5, generator=g), torch.randn(16, 1, generator=g)) for _ in range(n)]


def _steps(model, opt, batches):
    for x, y in batches:
        opt.clear_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        sched = opt._learning_rate
        if hasattr(sched, "step"):
            sched.step()
