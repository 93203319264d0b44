"""``/v1/steps``: the registered steps and their parameters."""

from fastapi import APIRouter

from api.deps import RegistryDep, Viewer
from api.errors import ERROR_RESPONSES
from api.schemas import StepInfo
from pipeline_engine.steps import StepRegistry

router = APIRouter(prefix="/steps", tags=["steps"], responses=ERROR_RESPONSES)

_described: dict[tuple[int, tuple[str, ...]], list[StepInfo]] = {}


def _describe(registry: StepRegistry) -> list[StepInfo]:
    """The steps of ``registry``, built once per set of registered names (schemas are costly)."""
    key = (id(registry), tuple(registry.names()))
    found = _described.get(key)
    if found is None:
        found = [
            StepInfo(
                name=d.name,
                description=d.description,
                is_async=d.is_async,
                parameters=d.parameters_schema(),
            )
            for d in registry.definitions()
        ]
        _described.clear()
        _described[key] = found
    return found


@router.get("", operation_id="list_steps", response_model=list[StepInfo])
async def list_steps(caller: Viewer, registry: RegistryDep) -> list[StepInfo]:
    """Every registered step: name, description, whether it is async, JSON Schema of its kwargs."""
    return _describe(registry)
