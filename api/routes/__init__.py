"""One router per resource, combined here."""

from fastapi import APIRouter

from api.routes import (
    batches,
    codec,
    counts,
    graphs,
    named_pipelines,
    ops,
    pipelines,
    process,
    schedules,
    schema,
    steps,
    streams,
    tenants,
    triggers,
)

__all__ = ["api_router", "ops_router"]

api_router = APIRouter(prefix="/v1")
api_router.include_router(pipelines.router)
api_router.include_router(streams.router)
api_router.include_router(process.router)
api_router.include_router(tenants.router)
api_router.include_router(named_pipelines.router)
api_router.include_router(steps.router)
api_router.include_router(schema.router)
api_router.include_router(graphs.router)
api_router.include_router(counts.router)
api_router.include_router(batches.router)
api_router.include_router(schedules.router)
api_router.include_router(triggers.router)
api_router.include_router(codec.router)

ops_router = ops.router
