"""The one interpreter of pipelines, shared by the Temporal workflow and the fake engine."""

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
