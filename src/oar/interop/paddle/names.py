"""Paddle's internal param names (``linear_0.w_0``) for the layers of a torch model, as a fresh
Paddle process names the same layers."""

from __future__ import annotations

import torch

__all__ = ["derived_names", "paddle_param_names"]

#: torch layer -> the prefix Paddle's layer of the same kind takes its names from (its class name
#: in snake case), each checked against Paddle 3.3.1. Exact types: a subclass is another class
#: in Paddle too, named after itself.
_PADDLE_PREFIX: dict[type[torch.nn.Module], str] = {
    torch.nn.Linear: "linear",
    torch.nn.Conv1d: "conv1d",
    torch.nn.Conv2d: "conv2d",
    torch.nn.Conv3d: "conv3d",
    torch.nn.ConvTranspose2d: "conv2d_transpose",
    torch.nn.Embedding: "embedding",
    torch.nn.LayerNorm: "layer_norm",
    torch.nn.GroupNorm: "group_norm",
}
_PADDLE_LETTER = {"weight": "w", "bias": "b"}


def derived_names(model: torch.nn.Module) -> tuple[dict[str, str], dict[str, str]]:
    """``(names, unnamed)``: Paddle's fresh-process name of each state_dict key it can name, and
    the others with the type of the module that owns them."""
    counters: dict[str, int] = {}
    of_module: dict[int, str] = {}
    for _, module in model.named_modules():  # each layer once, in creation order (assumed)
        prefix = _PADDLE_PREFIX.get(type(module))
        if prefix is not None:
            index = counters.get(prefix, 0)
            counters[prefix] = index + 1
            of_module[id(module)] = f"{prefix}_{index}"
    names: dict[str, str] = {}
    unnamed: dict[str, str] = {}
    saved = model.state_dict().keys()  # not non-persistent buffers
    for path, module in model.named_modules(remove_duplicate=False):
        own = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
        for attr, _ in own:
            key = f"{path}.{attr}" if path else attr
            if key not in saved:
                continue
            layer = of_module.get(id(module))
            if layer is not None and attr in _PADDLE_LETTER:
                names[key] = f"{layer}.{_PADDLE_LETTER[attr]}_0"
            else:
                unnamed[key] = type(module).__name__
    return names, unnamed


def paddle_param_names(model: torch.nn.Module) -> dict[str, str]:
    """The internal names a fresh Paddle process gives the parameters of the Paddle model that
    ``model`` mirrors: ``{structured name: 'linear_0.w_0', ...}``.

    Paddle names a layer ``f"{kind}_{n}"`` (``kind`` its class name in snake case, ``n`` counting
    the layers of that kind created so far in the process) and its params ``f"{layer}.w_0"`` /
    ``f"{layer}.b_0"``. This assumes the Paddle model creates its layers in the order
    ``model.named_modules()`` lists them (true of ``Sequential`` and of models that create their
    layers in ``__init__`` in attribute order) and knows torch's ``Linear``, ``Conv1d/2d/3d``,
    ``ConvTranspose2d``, ``Embedding``, ``LayerNorm`` and ``GroupNorm``; otherwise take the names
    from Paddle: ``{k: v.name for k, v in paddle_layer.state_dict().items()}``.

    Args:
        model (torch.nn.Module): the model.

    Returns:
        dict[str, str]: every key of ``model.state_dict()`` with its Paddle name.

    Raises:
        ValueError: a parameter or buffer of another kind of module (named, with its module type).
    """
    names, unnamed = derived_names(model)
    if unnamed:
        key, kind = next(iter(unnamed.items()))
        raise ValueError(
            f"no Paddle name is known for {key!r} (a parameter or buffer of {kind}); pass "
            "param_names={structured name: Paddle name} (from Paddle: "
            "{k: v.name for k, v in layer.state_dict().items()})"
        )
    return names
