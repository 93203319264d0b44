"""The members of a fan-out: a group's children (each gets the same ``previous``), or the runs of
a map's element over its items (run ``i`` is the element with ``[i]`` appended to its stage ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline_engine._interpreter._batches import Batch
from pipeline_engine._interpreter._handoff import ShardCall
from pipeline_engine._interpreter._memo import member_key, template_key
from pipeline_engine._interpreter._tree import expand
from pipeline_engine.dsl import Node
from pipeline_engine.dsl._plan_wire import node_from_wire, node_to_wire
from pipeline_engine.status import StageStatus

__all__ = ["Members"]


@dataclass
class Members:
    """See the module docstring: ``members`` and ``previous``, or ``template`` over ``items``
    numbered from ``offset``."""

    members: tuple[Node, ...] = ()
    previous: Any = None
    template: Node | None = None
    items: list[Any] | None = None
    offset: int = 0
    batched: bool = False
    """A batched map's runs: each item is a batch (a list), and each run returns a list."""

    @classmethod
    def of_shard(cls, call: ShardCall) -> Members:
        """The members a shard was given."""
        if call.template is not None:
            template = node_from_wire(call.template)
            return cls(
                template=template,
                items=call.items or [],
                offset=call.offset,
                batched=call.batched,
            )
        members = tuple(node_from_wire(m) for m in call.members or [])
        return cls(members=members, previous=call.previous)

    def __len__(self) -> int:
        return len(self.items) if self.template is not None and self.items else len(self.members)

    @property
    def nodes(self) -> tuple[Node, ...]:
        """What the members are made of (a map's element once)."""
        return (self.template,) if self.template is not None else self.members

    def key(self, i: int) -> str:
        """:func:`member_key` of member ``i``, without making it."""
        if self.template is None:
            return member_key(self.members[i])
        return template_key(self.template, self.offset + i)

    def member(self, i: int, stages: dict[str, StageStatus]) -> tuple[Node, Any]:
        """Member ``i`` and its previous value (a map's run gets its records in ``stages``)."""
        if self.template is None:
            return self.members[i], self.previous
        assert self.items is not None
        item = Batch(self.items[i]) if self.batched else self.items[i]
        return expand(self.template, f"[{self.offset + i}]", stages), item

    def call(self, lo: int, hi: int) -> ShardCall:
        """Members ``lo`` to ``hi`` as a shard."""
        if self.template is None:
            members = [node_to_wire(m) for m in self.members[lo:hi]]
            return ShardCall(members=members, previous=self.previous)
        assert self.items is not None
        return ShardCall(
            template=node_to_wire(self.template),
            items=self.items[lo:hi],
            offset=self.offset + lo,
            batched=self.batched,
        )
