"""A thin parent's sharded fan-outs: what a pipeline (or a shard above others) keeps of each shard
instead of its every stage and event.

A :class:`Block` per shard holds the shard's stage counts by state, its live stages (running,
failed, waiting: bounded by what runs at once) and the stages the parent adopted (a member that
failed for good in the shard is retried in the parent, which then owns its records). The rest is
read from the shard on demand: a page of the parent's stages names the slices of it the shards
hold (:class:`StageSlice`), and the parent's log numbers the shards' events without keeping them
(:class:`EventSpan`). The engine reads those slices and spans from the shards' workflows and
splices them in (:func:`resolve_status`, :func:`resolve_history`), so status and history stay
paged and correct while the parent's memory stays flat as the fan-out grows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pipeline_engine._interpreter._handoff import (
    BlockState,
    HistoryParts,
    HistoryPartsQuery,
    PartsQuery,
    ShardProgress,
    StageSlice,
    StatusParts,
)
from pipeline_engine.dsl import Node, stages_of
from pipeline_engine.events import Event
from pipeline_engine.states import StageState
from pipeline_engine.status import PipelineStatus, StagePage, StageStatus

__all__ = [
    "LIVE",
    "THIN_FAN_OUT_PATCH",
    "Block",
    "Blocks",
    "resolve_history",
    "resolve_status",
]

THIN_FAN_OUT_PATCH = "thin-fan-out"
"""Patch id: a sharded fan-out's stages and events stay in its shards (the parent keeps counts,
live stages and spans); runs recorded before merged every stage and event into the parent."""

LIVE = frozenset({StageState.RUNNING, StageState.FAILED, StageState.WAITING_INPUT})
"""States a shard reports stage by stage (few at a time); the others only as counts."""


def _record(plan: object) -> StageStatus:
    from pipeline_engine._interpreter._records import record  # _records imports this module

    return record(plan)  # type: ignore[arg-type]


@dataclass
class Block:
    """One shard of a sharded fan-out, as its parent keeps it."""

    key: str
    position: int
    """How many of the parent's own stages come before it."""
    nodes: tuple[Node, ...] | None = None
    """A group's members (their stages show PENDING until the shard reports)."""
    pending: int = 0
    source: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    live: dict[str, StageStatus] = field(default_factory=dict)
    adopted: dict[str, str] = field(default_factory=dict)
    """Stage id → its state in the shard, for stages the parent now owns."""
    reported: bool = False
    skipped: bool = False

    def synthesized(self, skip: int = 0, take: int | None = None) -> list[StageStatus]:
        """The records of a group shard's members before it reports (``take`` of them after the
        first ``skip``; all by default)."""
        state = StageState.SKIPPED if self.skipped else StageState.PENDING
        out: list[StageStatus] = []
        seen = 0
        for node in self.nodes or ():
            for plan in stages_of(node)[0]:
                if take is not None and len(out) >= take:
                    return out
                if seen >= skip and plan.stage_id not in self.adopted:
                    rec = _record(plan)
                    rec.state = state
                    out.append(rec)
                seen += plan.stage_id not in self.adopted
        return out

    def state_counts(self) -> Counter[str]:
        """Its stages by state (less the adopted ones)."""
        if not self.reported:
            state = StageState.SKIPPED if self.skipped else StageState.PENDING
            return Counter({state.value: self.pending}) if self.pending else Counter()
        counts = Counter(self.counts)
        counts.subtract(self.adopted.values())
        return +counts

    def matching(self, state: StageState | None) -> int:
        """How many of its stages a page filtered by ``state`` counts."""
        counts = self.state_counts()
        return sum(counts.values()) if state is None else counts.get(state.value, 0)

    def report(self, progress: ShardProgress) -> None:
        """The shard's report: its counts and live stages as they are now."""
        self.reported = True
        self.source = progress.source or self.source
        self.counts = Counter(progress.counts)
        self.live = {s.stage_id: s for s in progress.stages if s.stage_id not in self.adopted}

    def adopt(self, rec: StageStatus) -> None:
        """The parent owns ``rec`` from now on (a failed member retried there)."""
        self.adopted[rec.stage_id] = rec.state.value
        self.live.pop(rec.stage_id, None)

    def state(self) -> BlockState:
        """For a snapshot (continue-as-new)."""
        return BlockState(
            key=self.key,
            source=self.source,
            counts=dict(self.counts) if self.reported else {},
            live=list(self.live.values()),
            adopted=sorted(self.adopted),
        )


class Blocks:
    """The blocks of a run, in the order the walk opened them."""

    def __init__(self) -> None:
        self._blocks: dict[str, Block] = {}
        self.restored: dict[str, BlockState] = {}
        """Blocks of an earlier run (continue-as-new), taken up again when the walk reopens them."""

    def __bool__(self) -> bool:
        return bool(self._blocks)

    def __iter__(self) -> Iterator[Block]:
        return iter(self._blocks.values())

    def get(self, key: str) -> Block | None:
        """The block of shard ``key`` (``None`` when none was opened)."""
        return self._blocks.get(key)

    def open(self, block: Block, adopted_states: dict[str, StageStatus]) -> Block:
        """Add ``block`` (or keep the one already open under its key); take up a restored one."""
        if block.key in self._blocks:
            return self._blocks[block.key]
        kept = self.restored.pop(block.key, None)
        if kept is not None:
            block.source = kept.source
            block.reported = bool(kept.counts)
            block.counts = Counter(kept.counts)
            block.live = {s.stage_id: s for s in kept.live}
            block.adopted = {
                sid: adopted_states[sid].state.value if sid in adopted_states else "FAILED"
                for sid in kept.adopted
            }
        self._blocks[block.key] = block
        return block

    def states(self) -> list[BlockState]:
        """Every block, for a snapshot (blocks not reopened yet included)."""
        return [b.state() for b in self._blocks.values()] + list(self.restored.values())

    def counts(self) -> Counter[str]:
        """Stages of every block by state."""
        total: Counter[str] = Counter()
        for b in self._blocks.values():
            total.update(b.state_counts())
        return total

    def live(self) -> list[StageStatus]:
        """The live stages of every block."""
        return [s for b in self._blocks.values() for s in b.live.values()]

    def running(self) -> bool:
        """Whether a stage of a shard runs."""
        return any(
            s.state is StageState.RUNNING and s.kind != "map"
            for b in self._blocks.values()
            for s in b.live.values()
        )

    def skip_unstarted(self) -> list[StageStatus]:
        """The run ends: a group shard that never reported skips its members (their records,
        for the events)."""
        skipped: list[StageStatus] = []
        for b in self._blocks.values():
            if not b.reported and not b.skipped:
                b.skipped = True
                skipped.extend(b.synthesized())
        return skipped

    def page(
        self, own: Iterable[StageStatus], query: PartsQuery
    ) -> tuple[list[StageStatus], dict[str, int], int, list[StageSlice]]:
        """A page of the own stages with the blocks laid in: (its stages, counts by state over
        all, how many match, the slices of it to read from shards)."""
        by_position: dict[int, list[Block]] = {}
        for b in self._blocks.values():
            by_position.setdefault(b.position, []).append(b)
        pager = _Pager(query)
        exclude = set(query.exclude)
        for position, rec in enumerate(own):
            for b in by_position.pop(position, []):
                pager.block(b)
            if rec.stage_id not in exclude:
                pager.one(rec)
        for p in sorted(by_position):
            for b in by_position[p]:
                pager.block(b)
        return pager.out, dict(pager.counts), pager.matching, pager.slices


class _Pager:
    """One page cut across own stages and blocks, in order."""

    def __init__(self, query: PartsQuery) -> None:
        self.state, self.lo, self.hi = query.state, query.offset, query.offset + query.limit
        self.out: list[StageStatus] = []
        self.slices: list[StageSlice] = []
        self.counts: Counter[str] = Counter()
        self.matching = 0

    def one(self, rec: StageStatus) -> None:
        self.counts[rec.state.value] += 1
        if self.state is not None and rec.state is not self.state:
            return
        if self.lo <= self.matching < self.hi:
            self.out.append(rec.model_copy())
        self.matching += 1

    def block(self, b: Block) -> None:
        self.counts.update(b.state_counts())
        n = b.matching(self.state)
        first, last = max(self.lo, self.matching), min(self.hi, self.matching + n)
        if first < last:
            skip, take = first - self.matching, last - first
            if not b.reported:  # made from the plan: only the page's
                self.out.extend(b.synthesized(skip, take))
            elif self.state in LIVE:  # the block holds every stage in these states
                live = [s for s in b.live.values() if s.state is self.state]
                self.out.extend(s.model_copy() for s in live[skip : skip + take])
            else:
                q = PartsQuery(offset=skip, limit=take, state=self.state, exclude=sorted(b.adopted))
                self.slices.append(StageSlice(index=len(self.out), source=b.source, query=q))
        self.matching += n


Fetch = Callable[[str, str, object], Awaitable[object]]
"""``(source workflow, "status" | "history", query) -> StatusParts | HistoryParts``."""


async def resolve_status(parts: StatusParts, fetch: Fetch) -> PipelineStatus:
    """``parts``' status with its slices read from the shards (recursively)."""
    status = parts.status
    if not parts.slices:
        return status
    stages = list(status.stages)
    for piece in reversed(parts.slices):  # made in order: later ones first keeps indexes true
        answer = await fetch(piece.source, "status", piece.query)
        assert isinstance(answer, StatusParts)
        inner = await resolve_status(answer, fetch)
        stages[piece.index : piece.index] = inner.stages
    return status.model_copy(update={"stages": stages})


async def resolve_history(parts: HistoryParts, fetch: Fetch) -> list[Event]:
    """``parts``' events with its spans read from the shards (recursively), numbered as the
    parent numbers them."""
    if not parts.spans:
        return list(parts.events)
    events = list(parts.events)
    for span in parts.spans:
        q = HistoryPartsQuery(after_id=span.source_first - 1, limit=span.count)
        answer = await fetch(span.source, "history", q)
        assert isinstance(answer, HistoryParts)
        inner = await resolve_history(answer, fetch)
        shift = span.first_id - span.source_first
        events.extend(e.model_copy(update={"id": e.id + shift}) for e in inner)
    events.sort(key=lambda e: e.id)
    return events


def page_of(page: StagePage | None, exclude: Iterable[str] = ()) -> PartsQuery:
    """A status page as a :class:`PartsQuery`."""
    page = page or StagePage()
    return PartsQuery(
        offset=page.offset, limit=page.limit, state=page.state, exclude=sorted(exclude)
    )
