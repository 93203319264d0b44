"""``PreparedConfig``: a pipeline config compiled once, for every pipeline created from it.

A tenant's stored config is validated when it is loaded; creating a pipeline from it then only
hashes the request's input against the config's canonical JSON kept here, instead of parsing,
compiling and serialising the config again on every ``/v1/process``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline_engine._ids import canonical_json
from pipeline_engine._interpreter._children import PinnedPipelines
from pipeline_engine.dsl import PipelineConfig, Plan, parse_config
from pipeline_engine.steps import StepRegistry
from pipeline_engine.versions import PipelineVersionRef

__all__ = ["PreparedConfig"]


@dataclass(frozen=True, eq=False)
class PreparedConfig:
    """A compiled, checked pipeline config and its canonical JSON.

    Compared (and hashed) by identity: an engine may keep what it derives from one (the Web UI's
    graph of it) for as long as the config lives.

    Attributes:
        plan: The compiled config (``plan.config`` is the config).
        canonical: The config's canonical JSON (what request fingerprints hash).
        ref: The stored pipeline version it was read from (``None``: a raw config); every
            pipeline created from it records it as its origin (``pipeline_ref``).
        pinned: The versions its sub-pipelines (and theirs) run, resolved against the tenant's
            pipelines when a run is created (``None``: it has none, or nothing resolved them).
    """

    plan: Plan
    canonical: str
    ref: PipelineVersionRef | None = None
    pinned: PinnedPipelines | None = None

    @property
    def config(self) -> PipelineConfig:
        """The pipeline config."""
        return self.plan.config

    @classmethod
    def of(
        cls,
        config: PreparedConfig | PipelineConfig | dict[str, Any] | str,
        *,
        registry: StepRegistry | None,
    ) -> PreparedConfig:
        """Parse, check and compile ``config`` (one already prepared is returned as it is).

        Raises:
            InvalidConfig: listing every problem, each with its JSON path.
        """
        if isinstance(config, PreparedConfig):
            return config
        plan = parse_config(config, registry=registry)
        dumped = plan.config.model_dump(mode="json", by_alias=True)
        return cls(plan, canonical_json(dumped))
