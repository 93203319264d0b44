"""Steps: plain functions registered by name."""

from pipeline_engine.steps._context import StepContext
from pipeline_engine.steps._registry import (
    StepDefinition,
    StepRegistry,
    default_registry,
    load_step_modules,
    step,
)

__all__ = [
    "StepContext",
    "StepDefinition",
    "StepRegistry",
    "default_registry",
    "load_step_modules",
    "step",
]
