"""What the walk already produced, so a resumed walk (a new run, a shard, a retry) returns it
instead of running it again: the one memo of the interpreter.

One store, three kinds of key, each made here only: a stage's id (its value), a fan-out member's
:func:`member_key` (its result, or its failure marker) and a shard's :func:`shard_key` (the shard
is over). They share one ordered dict because that dict is the wire form: a snapshot
(continue-as-new) and a shard call carry it as it is.
"""

from __future__ import annotations

from typing import Any

from pipeline_engine._interpreter._tree import first_stage
from pipeline_engine.dsl import Node

__all__ = ["Memo", "member_key", "shard_key", "template_key"]


def member_key(node: Node) -> str:
    """Key of a fan-out member's result: unique in a pipeline (paths differ between nesting
    levels, first stage ids between runs of a map)."""
    return f"{node.path}|{first_stage(node)}"


def template_key(template: Node, run: int) -> str:
    """:func:`member_key` of run ``run`` of a map's element, without making the run."""
    return f"{template.path}|{first_stage(template)}[{run}]"


def shard_key(first_member: str, width: int) -> str:
    """Key that says the shard of ``width`` members from ``first_member`` on is over."""
    return f"shard:{first_member}:{width}"


class Memo:
    """Values by key (see the module docstring for the keys)."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str) -> Any:
        """The value kept under ``key``; ``None`` when there is none."""
        return self.values.get(key)

    def put(self, key: str, value: Any) -> Any:
        """Keep ``value`` under ``key``; return it."""
        self.values[key] = value
        return value

    def update(self, values: dict[str, Any]) -> None:
        """Keep all of ``values`` (what another run produced)."""
        self.values.update(values)

    def pick(self, keys: list[str]) -> dict[str, Any]:
        """The values kept under those of ``keys`` that have one."""
        return {k: self.values[k] for k in keys if k in self.values}
