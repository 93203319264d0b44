"""``/v1/steps``: the registered steps and their parameters."""

from fastapi import APIRouter

from api.deps import RegistryDep, Viewer
from api.errors import ERROR_RESPONSES
from api.schemas import StepInfo

router = APIRouter(prefix="/steps", tags=["steps"], responses=ERROR_RESPONSES)


@router.get("", operation_id="list_steps", response_model=list[StepInfo])
async def list_steps(caller: Viewer, registry: RegistryDep) -> list[StepInfo]:
    """Every registered step: name, description, whether it is async, JSON Schema of its kwargs."""
    return [
        StepInfo(
            name=d.name,
            description=d.description,
            is_async=d.is_async,
            parameters=d.parameters_schema(),
        )
        for d in registry.definitions()
    ]
