"""Filters of the chain list that other apps contribute (review's agreement, queue status and flags).

`annotation` imports neither oversight nor review (pyproject.toml's import-linter contracts), yet a
researcher browsing chains wants to find the ones reviewers flagged or annotators disagreed on. So the
app that knows registers a filter here when it loads (`review/apps.py`); the chain list's input
serializer, its page and its OpenAPI schema are built from what is registered, and the selector applies
each one as a condition on the project's chains. Without review installed, those filters do not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The chain list's own parameters: a contributed filter may not take one of these names.
OWN_PARAMETERS = frozenset({"source_model", "status", "flag", "q", "text", "after"})


@dataclass(frozen=True)
class ChainFilter:
    """One query parameter of the chain list.

    `apply(chains, project, value)` returns the chains (a QuerySet of annotation.Chain) narrowed to those
    that match; it must keep the query one statement and indexable at 100,000 chains (bench/chain_list.py).
    With `choices`, the value is one of them; without, it is a number from `minimum` to `maximum`.
    """

    name: str
    label: str  # on the page
    help: str  # in the OpenAPI schema and the page's title text
    apply: Callable[[Any, Any, Any], Any]
    choices: tuple[tuple[str, str], ...] = ()  # (value, what it means)
    minimum: float | None = None
    maximum: float | None = None

    @property
    def is_number(self) -> bool:
        return not self.choices


_REGISTRY: dict[str, ChainFilter] = {}


def chain_filter_register(spec: ChainFilter) -> None:
    """Add (or replace, by name: AppConfig.ready may run again in tests) a filter of the chain list."""
    if spec.name in OWN_PARAMETERS:
        raise ValueError(f"'{spec.name}' is a parameter of the chain list itself; register the filter under "
                         "another name.")
    _REGISTRY[spec.name] = spec


def chain_filters() -> tuple[ChainFilter, ...]:
    """The contributed filters, in the order they were registered."""
    return tuple(_REGISTRY.values())
