"""LBFGS has no entry in the option matrix: its ``step(closure)`` runs whole iterations over every
param, not one update per gradient, so the harness's side-by-side runs (``step()`` without a
closure) do not apply. Its tests against Paddle and torch are in tests/test_asgd_rprop_lbfgs.py."""

from cases import AlgorithmCases

ENTRY = AlgorithmCases(
    name="LBFGS",
    cases=[],
    options={},
    group_options=[],
    weight_decay=True,
    required={},
    engine_configs=[],
    kernel_configs=[],
    property_kwargs=lambda beta, eps: {},
)
