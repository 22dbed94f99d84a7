"""Pure sampling for replays: N of the matching events, reproducible with a seed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def sample(items: Sequence[T], n: int | None, *, seed: int | None = None) -> list[T]:
    """`n` items drawn without replacement, in their original order; all of them when `n` is None or larger.

    The same `items`, `n` and `seed` always give the same sample (tests and "replay that batch again").
    """
    if n is None or n >= len(items):
        return list(items)
    if n < 1:
        raise ValueError("a sample has at least one item")
    rng = random.Random(seed)  # noqa: S311 (sampling, not cryptography)
    chosen = sorted(rng.sample(range(len(items)), n))
    return [items[i] for i in chosen]
