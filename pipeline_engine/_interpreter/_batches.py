"""Map runs: what a run's expressions see (its ``item`` and ``index``), and batched maps
(``batch_size``): the items cut into batches, each run's result checked to be a list as long as
its batch (``BatchResultMismatch``), the runs' lists put back together one entry per item."""

from __future__ import annotations

from typing import Any, Protocol

from pipeline_engine._interpreter._conditions import run_suffix
from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import FAILURE_MARKER, RETRY, FailurePolicy
from pipeline_engine._interpreter._tree import first_stage
from pipeline_engine.dsl import ChainPlan, ChordPlan, Node
from pipeline_engine.status import ErrorInfo

__all__ = ["Batch", "batches", "checked_batch", "enter_run", "last_stage", "per_item"]


class Batch(list[Any]):
    """The items of one run of a batched map (a list that says it is a batch)."""


class _Walker(Protocol):
    async def run(self, node: Node, previous: Any, policy: FailurePolicy) -> Any: ...


def batches(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` cut into lists of ``size`` (the last one shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def per_item(results: list[Any], runs: list[list[Any]]) -> list[Any]:
    """The runs' results back to one entry per item: a failed run marks each of its items."""
    out: list[Any] = []
    for result, batch in zip(results, runs, strict=True):
        if isinstance(result, list) and len(result) == len(batch):
            out.extend(result)
        else:  # a failure marker (or what on_failure made of a failure): each item gets it
            out.extend([result] * len(batch))
    return out


def enter_run(ctx: RunContext, node: Node, previous: Any) -> None:
    """The map run ``node`` (over ``previous``) shows its item and index to its expressions."""
    suffix = run_suffix(first_stage(node))
    if suffix:
        index = int(suffix[suffix.rindex("[") + 1 : -1])
        ctx.scopes[suffix] = (list(previous) if isinstance(previous, Batch) else previous, index)


def last_stage(node: Node) -> str:
    """The stage whose result is ``node``'s (the last of a chain, a chord's callback)."""
    while True:
        if isinstance(node, ChainPlan) and node.children:
            node = node.children[-1]
        elif isinstance(node, ChordPlan) and node.callback is not None:
            return node.callback.stage_id
        else:
            return first_stage(node)


def _shape(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "null" if value is None else f"a {type(value).__name__}"


async def checked_batch(
    ctx: RunContext, walk: _Walker, node: Node, batch: Batch, value: Any, policy: FailurePolicy
) -> Any:
    """``value`` if it is a list as long as ``batch``; else the run's last stage fails with
    ``BatchResultMismatch`` (held and retried like any failure: the retry runs that stage
    again)."""
    inner = policy.members()
    while not (isinstance(value, list) and len(value) == len(batch)):
        if isinstance(value, dict) and value.get(FAILURE_MARKER) is True:
            return value
        sid = last_stage(node)
        rec = ctx.records.stages[sid]
        error = ErrorInfo(
            type="BatchResultMismatch",
            message=f"a run of a batched map got {len(batch)} items and returned "
            f"{_shape(value)}; it must return a list of {len(batch)}",
            stage_id=sid,
        )
        verdict = await inner.after_failure(rec, "fail", error, list(batch))
        if verdict is not RETRY:
            return verdict
        ctx.memo.values.pop(sid, None)
        value = await walk.run(node, list(batch), inner)
    return value
