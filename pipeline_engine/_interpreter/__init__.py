"""The one interpreter of pipelines, shared by the Temporal workflow and the fake engine.

Written once against :class:`Runtime` (what the workflow or the fake provides: time, step runs,
waits, shards), so both share every rule. One module per job:

- ``_run``: :class:`PipelineRun`, the facade: builds the parts, the lifecycle (start, walk, end).
- ``_commands`` / ``_reads``: start, input, retry, cancel / status and history.
- ``_records``: stages, the event log and the state machine; ``_endings``: how a run ends, hooks.
- ``_walk``: node to element, and the elements that arrange others (chain, group, chord, DAG).
- ``_step``, ``_input``, ``_map``: the stages (elements that run something).
- ``_failure``: the :class:`FailurePolicy` (``on_failure``, holds, absorbed or captured members).
- ``_fanout``: fan-out as a strategy (in this run, or ``_shards``: in shard workflows);
  ``_members``: a fan-out's members; ``_progress``: shards' reports merged.
- ``_memo``: what already ran (one memo for stages, members, shards); ``_snapshot``:
  continue-as-new; ``_context``: the parts every module shares, and one stage attempt;
  ``_tree``: a plan tree's shape (first stage, inputs inside, a map run's copy).

A step's path: ``Walk.run`` (memo, dispatch) → ``StepStage`` (gates, retry on request) →
``RunContext.attempt`` (records, pause, counted) → ``Runtime.run_step``.

Adding a DSL element: write a module with a class whose ``__call__(node, previous, policy)``
returns the node's value (run child nodes with ``walk.run(child, value, policy)``, fan out with
``walk.fan_out(Members(...), cap, policy.fan_out(absorb=...))``, send failures to
``policy.after_failure``), and register it for its plan type in ``PipelineRun.__init__``
(``self._walk.register(WhenPlan, When(self._ctx, self._walk))``). A node with a ``stage_id`` is a
stage: the walk memoizes its value, so a resumed run does not run it again; give it a record in
``_records.record``. An element that holds other nodes is taught to ``_tree`` (its first stage,
whether it holds an input, its copy in a map's run). Test it in tests/pipeline_engine/_interpreter
(``harness.run_config`` runs a config on the in-process runtime).
"""

from pipeline_engine._interpreter._handoff import (
    HeldStage,
    RunSnapshot,
    ShardCall,
    ShardFailure,
    ShardProgress,
    ShardResult,
)
from pipeline_engine._interpreter._local import LocalRuntime, backoff_delay, error_info
from pipeline_engine._interpreter._run import FAILURE_MARKER, PipelineRun
from pipeline_engine._interpreter._runtime import (
    Runtime,
    StepCall,
    StepFailed,
    StepOutcome,
    utc_minute,
)

__all__ = [
    "FAILURE_MARKER",
    "HeldStage",
    "LocalRuntime",
    "PipelineRun",
    "RunSnapshot",
    "Runtime",
    "ShardCall",
    "ShardFailure",
    "ShardProgress",
    "ShardResult",
    "StepCall",
    "StepFailed",
    "StepOutcome",
    "backoff_delay",
    "error_info",
    "utc_minute",
]
