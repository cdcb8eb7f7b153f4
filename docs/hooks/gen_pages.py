"""mkdocs hook: the pages generated from oar's tables at build time.

* one page per optimizer of :func:`oar.algorithms.algorithms` (``optimizers/<name>.md``): the update
  rule and the differences from Paddle and torch.optim from ``docs/rules.yml`` (the build fails when
  an algorithm has no entry there), the arguments from the class docstring (mkdocstrings), the state
  names and shapes read from a real optimizer stepped once, and whether a fused kernel exists;
* ``lr.md``: every scheduler of :func:`oar.lr.expression.scheduler_classes` with a plot drawn by
  :func:`oar.lr.plot.plot_schedule` (the build fails when a scheduler has no example below);
* ``benchmarks.md``: RESULTS.md, included as it is.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

import torch
import yaml  # type: ignore[import-untyped]
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

import oar
import oar.lr
from oar.algorithms import Algorithm, algorithms
from oar.engine.fused import kernel_for
from oar.lr.expression import scheduler_classes
from oar.lr.plot import plot_schedule, schedule_values

#: One example per scheduler of oar.lr, a Python expression over oar.lr's names; the page shows
#: the expression and its plot. ReduceOnPlateau is stepped with a constant metric (it never improves).
SCHEDULE_EXAMPLES: dict[str, str] = {
    "NoamDecay": "NoamDecay(d_model=64, warmup_steps=20)",
    "PiecewiseDecay": "PiecewiseDecay(boundaries=[20, 40], values=[0.1, 0.05, 0.01])",
    "NaturalExpDecay": "NaturalExpDecay(learning_rate=0.1, gamma=0.05)",
    "InverseTimeDecay": "InverseTimeDecay(learning_rate=0.1, gamma=0.1)",
    "PolynomialDecay": "PolynomialDecay(learning_rate=0.1, decay_steps=25, end_lr=0.01, power=2.0, cycle=True)",
    "LinearWarmup": "LinearWarmup(CosineAnnealingDecay(0.1, T_max=50), warmup_steps=10, start_lr=0.0, end_lr=0.1)",
    "ExponentialDecay": "ExponentialDecay(learning_rate=0.1, gamma=0.95)",
    "MultiStepDecay": "MultiStepDecay(learning_rate=0.1, milestones=[15, 30, 45], gamma=0.5)",
    "StepDecay": "StepDecay(learning_rate=0.1, step_size=10, gamma=0.5)",
    "LambdaDecay": "LambdaDecay(learning_rate=0.1, lr_lambda=lambda epoch: 0.95 ** epoch)",
    "MultiplicativeDecay": "MultiplicativeDecay(learning_rate=0.1, lr_lambda=lambda epoch: 0.97)",
    "CosineAnnealingDecay": "CosineAnnealingDecay(learning_rate=0.1, T_max=30)",
    "CosineAnnealingWarmRestarts": "CosineAnnealingWarmRestarts(learning_rate=0.1, T_0=10, T_mult=2)",
    "OneCycleLR": "OneCycleLR(max_learning_rate=0.1, total_steps=59)",
    "CyclicLR": "CyclicLR(base_learning_rate=0.01, max_learning_rate=0.1, step_size_up=10, mode='triangular2')",
    "LinearLR": "LinearLR(learning_rate=0.1, total_steps=30, start_factor=0.1)",
    "ReduceOnPlateau": "ReduceOnPlateau(learning_rate=0.1, patience=5, factor=0.5)",
}
STEPS = 60
_DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ROOT = os.path.dirname(_DOCS)


def load_rules() -> dict[str, dict[str, str]]:
    """docs/rules.yml, checked to hold a rule for every algorithm of the table.

    Raises:
        PluginError: an algorithm has no entry, an entry lacks ``rule``, or an entry names no
            algorithm of the table (a renamed or removed optimizer).
    """
    with open(os.path.join(_DOCS, "rules.yml"), encoding="utf-8") as f:
        rules: dict[str, dict[str, str]] = yaml.safe_load(f)
    missing = [a.name for a in algorithms() if not (rules.get(a.name) or {}).get("rule")]
    if missing:
        raise PluginError(f"docs/rules.yml has no update rule for {missing}: add one per algorithm")
    stale = sorted(set(rules) - {a.name for a in algorithms()})
    if stale:
        raise PluginError(f"docs/rules.yml has entries for {stale}, which are not in oar.algorithms.algorithms()")
    return rules


def state_after_one_step(algo: Algorithm) -> list[tuple[str, str, str]]:
    """``(key, shape, dtype)`` of ``opt.state[p]`` after one step on one float32 [2, 3] param."""
    p = torch.nn.Parameter(torch.linspace(-1.0, 1.0, 6).reshape(2, 3))
    opt = algo.cls(learning_rate=0.01, parameters=[p])

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    if algo.full_batch and algo.rule is None:
        opt.step(closure)
    else:
        closure()
        opt.step()
    rows = []
    for key, value in opt.state[p].items():
        if isinstance(value, torch.Tensor):
            rows.append((str(key), str(list(value.shape)), str(value.dtype).replace("torch.", "")))
        else:
            rows.append((str(key), "-", type(value).__name__))
    return rows


def optimizer_page(algo: Algorithm, rule: dict[str, str]) -> str:
    """The Markdown of one optimizer's page."""
    fused = "yes" if algo.rule is not None and kernel_for(algo.rule) is not None else "no"
    lines = [
        f"# {algo.name}",
        "",
        f"`oar.{algo.cls.__name__}`, Paddle's `paddle.optimizer.{algo.name}`.",
        "",
        "| fused kernel | multi_precision | rule function |",
        "| --- | --- | --- |",
        f"| {fused} | {'yes' if algo.multi_precision else 'no'} | "
        + (f"`{algo.rule.__module__}.{algo.rule.__name__}`" if algo.rule is not None else "none (closure-driven)")
        + " |",
        "",
        "## Update rule",
        "",
        "$$",
        rule["rule"].strip(),
        "$$",
        "",
        "## Differences",
        "",
        "| from Paddle 3.3.1 | from torch.optim |",
        "| --- | --- |",
        f"| {rule.get('paddle') or 'none'} | {rule.get('torch') or 'none'} |",
        "",
        "## State",
        "",
        "`opt.state[p]` after one step on a float32 `[2, 3]` param (generated at build time):",
        "",
        "| key | shape | dtype |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{k}` | {s} | {d} |" for k, s, d in state_after_one_step(algo)]
    lines += [
        "",
        "## Arguments",
        "",
        f"::: oar.{algo.cls.__name__}",
        "    options:",
        "      show_root_heading: false",
        "      members: false",
        "",
    ]
    return "\n".join(lines)


def lr_page(images: dict[str, bytes]) -> str:
    """The Markdown of the schedulers page; fills ``images`` with ``{name: png bytes}``."""
    classes = scheduler_classes()
    missing = sorted(set(classes) - set(SCHEDULE_EXAMPLES))
    if missing:
        raise PluginError(f"docs/hooks/gen_pages.py has no example schedule for {missing}")
    lines = [
        "# LR schedulers",
        "",
        (
            "Every scheduler of `oar.lr` (Paddle's `paddle.optimizer.lr`), with the first "
            f"{STEPS} values of an example drawn at build time (`oar.lr.plot`). "
            "The same plot from the command line: `oar lr plot '<expression>'` (for the schedulers that take no callable and no metric)."
        ),
        "",
    ]
    namespace: dict[str, Any] = {name: getattr(oar.lr, name) for name in oar.lr.__all__}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cls in classes.items():
            expr = SCHEDULE_EXAMPLES[name]
            sched = eval(expr, namespace)
            if name == "ReduceOnPlateau":
                values = [float(sched())]
                for _ in range(STEPS - 1):
                    sched.step(1.0)
                    values.append(float(sched()))
            else:
                values = schedule_values(sched, STEPS)
            out = os.path.join(tmp, f"{name}.png")
            plot_schedule(values, out, expr)
            with open(out, "rb") as f:
                images[name] = f.read()
            doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            lines += [
                f"## {name}",
                "",
                doc,
                "",
                "```python",
                f"oar.lr.{expr}",
                "```",
                "",
                f"![{name}](lr/{name}.png)",
                "",
                f"::: oar.lr.{name}",
                "    options:",
                "      show_root_heading: false",
                "      members: false",
                "",
            ]
    return "\n".join(lines)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages and images to the site."""
    rules = load_rules()
    for algo in algorithms():
        files.append(
            File.generated(config, f"optimizers/{algo.name}.md", content=optimizer_page(algo, rules[algo.name]))
        )
    images: dict[str, bytes] = {}
    files.append(File.generated(config, "lr.md", content=lr_page(images)))
    for name, png in images.items():
        files.append(File.generated(config, f"lr/{name}.png", content=png))
    with open(os.path.join(_ROOT, "RESULTS.md"), encoding="utf-8") as f:
        results = f.read()
    files.append(File.generated(config, "benchmarks-results.md", content=results))
    return files


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Add one nav entry per optimizer of the table, under "Optimizers"."""
    for entry in config.nav or []:
        if isinstance(entry, dict) and "Optimizers" in entry:
            entry["Optimizers"] = [{a.name: f"optimizers/{a.name}.md"} for a in algorithms()]
    return config


_SPHINX_ROLE = re.compile(r":(?:py:)?(?:class|mod|func|meth|attr|data|exc|obj):(?=<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    """Drop the Sphinx roles of oar's docstrings (``:class:`X```), which Markdown shows as text."""
    return _SPHINX_ROLE.sub("", html)
