"""Which of a search space's hyperparameters each model family uses, and what that does to a grid.

    ignored_by(space)              # {"lstm_units": ["multihot_dense"]}: no `when:`, unused there
    distinct_models(space, 64)     # grid combinations that build different models

A family ignores the names it has no use for (`models.get(family).uses()`), so a hyperparameter
without `when:` in a space with several families makes grid combinations that differ only in
a value the model never reads: the same model, trained again.
"""

from __future__ import annotations

from typing import Any

from textsweep.search_space.schema import SearchSpace

_COUNT_CAP = 200_000


def families(space: SearchSpace) -> list[str]:
    spec = space.hyperparameters.get("model")
    return [str(v) for v in (spec.candidates() or [])] if spec is not None else []


def _uses(family: str) -> tuple[str, ...] | None:
    """The names a registered family reads; None for a name the registry does not know."""
    from textsweep import models

    try:
        return models.get(family).uses()
    except KeyError:
        return None


def ignored_by(space: SearchSpace) -> dict[str, list[str]]:
    """Hyperparameters without `when:` that some of the space's families never use."""
    found: dict[str, list[str]] = {}
    for name, spec in space.hyperparameters.items():
        if name == "model" or spec.when:
            continue
        unused = [f for f in families(space) if name not in (_uses(f) or (name,))]
        if unused:
            found[name] = unused
    return found


def when_hint(space: SearchSpace, name: str) -> str:
    """`when: {model: [a, b]}` naming the families that use `name`."""
    users = [f for f in families(space) if name in (_uses(f) or ())]
    value: Any = users[0] if len(users) == 1 else users
    return f"when: {{model: {value}}}".replace("'", "")


def distinct_models(space: SearchSpace, batch_size: int) -> int | None:
    """How many grid combinations build different models (None: continuous, or too many)."""
    from textsweep.models import resolve, used_values

    if space.continuous_names() or "model" not in space.hyperparameters:
        return None
    seen: set[frozenset[tuple[str, Any]]] = set()
    for i, combo in enumerate(space.iter_grid()):
        if i >= _COUNT_CAP:
            return None
        used = used_values(resolve(combo, batch_size))
        seen.add(frozenset((k, str(v)) for k, v in used.items() if k in combo))
    return len(seen)
