"""The serialisable DSL: pure pydantic data, no Temporal.

The wire format (``schema_version`` "1") is the one of the Spanish seed, extended with optional,
backward-compatible fields. Every model forbids unknown fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "SCHEMA_VERSION",
    "Cache",
    "Case",
    "Chain",
    "Chord",
    "Defaults",
    "Element",
    "Group",
    "Hooks",
    "Input",
    "Map",
    "PipelineConfig",
    "Resources",
    "RetryPolicy",
    "StageConfig",
    "Step",
    "SubPipeline",
    "Switch",
]

SCHEMA_VERSION = "1"

_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$"
_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$"

StepName = Annotated[str, Field(pattern=_NAME_PATTERN, description="A registered step name.")]
StageId = Annotated[
    str, Field(pattern=_ID_PATTERN, description="Stage id, unique in the pipeline.")
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Expression = Annotated[
    str,
    Field(
        description="A CEL expression over previous, input and settings (and item and index in "
        "a map's element); checked when the config is validated (docs/dsl.md, Expressions)."
    ),
]

ToleratedFailures = Annotated[
    Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=r"^(100|[0-9]{1,2})(\.[0-9]+)?%$")],
    Field(
        description='Failed items tolerated: a count (N >= 0) or a share of the items ("P%": '
        "floor(P * n / 100) of n items). Tolerated failures are marked "
        '{"__failed__": true, "stage_id", "error"} in the result; one more fails the element.'
    ),
]


class _Element(_Model):
    when: Expression | None = Field(
        None,
        description="A CEL condition: false skips the element (every stage under it is SKIPPED, "
        "its result is null).",
    )


class Cache(_Model):
    """Reuse a step's result computed for the same inputs within ``ttl_s`` (per tenant)."""

    ttl_s: float = Field(gt=0, le=366 * 86400, description="How long a result is reused.")
    key: Expression | None = Field(
        None,
        description="A CEL expression giving the cache key; default: the step, its version, "
        "its kwargs, previous and input.",
    )


class RetryPolicy(_Model):
    """How a failed attempt of a step is retried (Temporal activity retry policy)."""

    max_attempts: int = Field(3, ge=1, le=1000, description="Attempts in all, the first included.")
    initial_interval_s: float = Field(
        1.0, gt=0, le=86400, description="Wait before the 2nd attempt."
    )
    backoff: float = Field(2.0, ge=1.0, le=100.0, description="Multiplier of the wait per attempt.")
    max_interval_s: float | None = Field(None, gt=0, le=86400, description="Cap on the wait.")
    non_retryable_errors: list[str] = Field(
        default_factory=list, description="Exception class names that fail the stage at once."
    )


class Resources(_Model):
    """Where and how much of a step runs."""

    task_queue: str | None = Field(
        None, min_length=1, max_length=200, description="Task queue of the workers for this step."
    )
    max_concurrency: int | None = Field(
        None, ge=1, le=10000, description="At most this many stages of this step run at once."
    )


OnFailure = Annotated[
    str,
    Field(
        pattern=_NAME_PATTERN,
        description='"fail" (park the pipeline in FAILED), "continue" (result None), '
        "or the name of a step run as failure handler.",
    ),
]


class _StepOptions(_Model):
    retry: RetryPolicy | None = None
    timeout_s: float | None = Field(None, gt=0, le=31 * 86400, description="Per-attempt timeout.")
    heartbeat_timeout_s: float | None = Field(
        None, gt=0, le=86400, description="A worker silent this long is presumed dead."
    )
    on_failure: OnFailure = "fail"
    resources: Resources | None = None
    local: bool | None = Field(
        None,
        description="Run as a Temporal local activity, inside the workflow's worker: for short, "
        "idempotent steps (see docs/dsl.md). Default: the step's registration "
        "(@step(local=True)), else false.",
    )


class Step(_StepOptions, _Element):
    """Run one registered step."""

    type: Literal["step"] = "step"
    name: StepName
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description='The step\'s keyword arguments; a value {"$expr": "<CEL>"} is computed when '
        "the stage starts.",
    )
    id: StageId | None = None
    cache: Cache | None = None


class Input(_Element):
    """Wait for a human to submit a payload that satisfies ``schema``."""

    type: Literal["input"] = "input"
    id: StageId | None = None
    schema_: dict[str, Any] = Field(
        default_factory=dict, alias="schema", description="JSON Schema of the payload."
    )
    prompt: str | None = Field(None, max_length=10000)
    timeout_s: float | None = Field(None, gt=0, le=366 * 86400)
    on_failure: OnFailure = "fail"

    @field_validator("schema_")
    @classmethod
    def _schema_is_a_json_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        from pipeline_engine.input_schema import check_input_schema  # patterns bounded (RE2)

        check_input_schema(value)
        return value


class Group(_Element):
    """Run every member at once; the result is the ordered list of member results."""

    type: Literal["group"] = "group"
    steps: list[Element]
    max_concurrency: int | None = Field(None, ge=1, le=10000)
    tolerated_failures: ToleratedFailures | None = None


class Chain(_Element):
    """Run members one after another, each getting the previous one's result."""

    type: Literal["chain"] = "chain"
    steps: list[Element]


class Chord(_Element):
    """A group whose list of results goes to a callback step."""

    type: Literal["chord"] = "chord"
    group: Group
    callback: Step | None = None
    on_error: Literal["fail", "continue"] = "fail"


class Map(_Element):
    """Run ``element`` once per item of a list known only at run time (a dynamic fan-out).

    Each run receives its item as ``previous``; the result is the ordered list of the runs'
    results (``[]`` for an empty list). The stages of run ``i`` are the element's stage ids with
    ``[i]`` appended (``detection[17]``).
    """

    type: Literal["map"] = "map"
    id: StageId | None = Field(None, description='Stage id of the map itself (default "map").')
    items: str = Field(
        "",
        pattern=r"^(/([^~/]|~[01])*)*$",
        description="JSON Pointer (RFC 6901) to the list in the map's previous value; "
        '"" (the default) is the value itself.',
    )
    element: Element
    max_concurrency: int | None = Field(
        None, ge=1, le=10000, description="At most this many runs at once."
    )
    on_error: Literal["fail", "continue"] = Field(
        "fail",
        description='"fail": a run that fails for good fails the map; "continue": the list '
        "holds a failure marker in its place.",
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        le=10000,
        description="Each run receives a list of up to this many items as previous and returns "
        "a list of the same length (else BatchResultMismatch); the result stays one entry per "
        "item. Runs are numbered by batch: <map id>[<batch index>].",
    )
    tolerated_failures: ToleratedFailures | None = None


class Case(_Model):
    """One branch of a ``switch``: ``element`` runs when ``when`` is the first true condition."""

    when: Expression
    element: Element


class Switch(_Element):
    """Run the first case whose condition is true, else ``default``, else nothing (null)."""

    type: Literal["switch"] = "switch"
    id: StageId | None = Field(None, description='Stage id of the switch (default "switch").')
    cases: list[Case] = Field(min_length=1)
    default: Element | None = None


class SubPipeline(_Element):
    """Run another pipeline of the same tenant as a child workflow; its result is this one's."""

    type: Literal["pipeline"] = "pipeline"
    id: StageId | None = Field(None, description="Stage id (default: the pipeline's name).")
    name: Annotated[str, Field(pattern=_NAME_PATTERN, description="A pipeline of the tenant.")]
    version: int | None = Field(None, ge=1, description="Its version (default: the latest).")
    input: Any = Field(
        None,
        description='The child\'s input: JSON, or {"$expr": "<CEL>"}; default: the element\'s '
        "previous value.",
    )
    on_failure: OnFailure = "fail"


Element = Annotated[
    Step | Chain | Group | Chord | Input | Map | Switch | SubPipeline,
    Field(discriminator="type"),
]


class StageConfig(_StepOptions):
    """One stage of the DAG form: a step with the stages it depends on."""

    id: StageId | None = None
    step: StepName
    kwargs: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[StageId] = Field(default_factory=list)


class Defaults(_Model):
    """Pipeline-wide defaults for steps that do not set their own."""

    timeout_s: float | None = Field(None, gt=0, le=31 * 86400)
    heartbeat_timeout_s: float | None = Field(None, gt=0, le=86400)
    retry: RetryPolicy | None = None
    task_queue: str | None = Field(None, min_length=1, max_length=200)


class Hooks(_Model):
    """Steps run at pipeline transitions (best effort: a failing hook is logged as an event)."""

    on_start: StepName | None = None
    on_success: StepName | None = None
    on_failure: StepName | None = None
    on_cancel: StepName | None = None


class PipelineConfig(_Model):
    """A versioned pipeline: a tree (``definition``) or a DAG (``stages``), with its policies."""

    schema_version: str = SCHEMA_VERSION
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10000)
    definition: Element | None = None
    stages: list[StageConfig] | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    timeout_s: float | None = Field(None, gt=0, le=366 * 86400, description="Whole pipeline.")
    failure_hold_s: float = Field(
        7 * 86400, ge=0, le=366 * 86400, description="How long a FAILED pipeline stays retryable."
    )
    hooks: Hooks = Field(default_factory=Hooks)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported schema_version {value!r}; this engine reads {SCHEMA_VERSION!r}"
            )
        return value

    @model_validator(mode="after")
    def _one_form(self) -> PipelineConfig:
        if (self.definition is None) == (self.stages is None):
            raise ValueError('give exactly one of "definition" (a tree) or "stages" (a DAG)')
        return self


for _m in (Group, Chain, Chord, Map, Case, Switch, PipelineConfig):
    _m.model_rebuild()
