"""Read-only graphs the console draws: a pipeline's, a tenant's stored config, a draft config.

A graph is the compiled plan as nodes (stages; wide and run-time fan-outs as one node) and
data-flow edges; for configs, each validation problem names the node it concerns.

Parsing, validating and drawing run off the event loop (:mod:`api.cpu`); a draft's body is
bounded in bytes (``PIPELINE_ENGINE_GRAPH_MAX_BODY_BYTES``, 413) and in elements
(``PIPELINE_ENGINE_GRAPH_MAX_ELEMENTS``, 422) before any of it is parsed.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body

from api.cpu import count_elements, off_loop
from api.deps import (
    ContextDep,
    EngineDep,
    RegistryDep,
    StoreDep,
    TenantPath,
    ViewablePipeline,
    Viewer,
    check_tenant,
)
from api.errors import ERROR_RESPONSES
from api.schemas import GraphEdgeOut, GraphNodeOut, GraphOut, GraphProblemOut
from pipeline_engine._interpreter._children import PinnedPipelines
from pipeline_engine.dsl import (
    GraphNode,
    PipelineResolver,
    Plan,
    PlanGraph,
    compile_plan,
    parse_config,
    plan_graph,
)
from pipeline_engine.dsl._references import ResolvedPipeline, sub_pipelines
from pipeline_engine.errors import InvalidConfig, Problem, TenantNotFound
from pipeline_engine.service.tenant_configs import definition_config

router = APIRouter(tags=["graphs"], responses=ERROR_RESPONSES)
GRAPH_PATH = "/v1/graph"
"""The draft graph's path (its body has a bound of its own)."""


def _node_out(node: GraphNode) -> GraphNodeOut:
    return GraphNodeOut(
        id=node.id,
        kind=node.kind,
        label=node.label,
        path=node.path,
        step=node.step,
        stages=list(node.stages),
        run_prefixes=list(node.run_prefixes),
        parent=node.parent,
    )


def _concerned(graph: PlanGraph, path: str) -> str | None:
    """The node whose element holds ``path`` (the deepest one)."""
    best: GraphNode | None = None
    for node in graph.nodes:
        inside = path == node.path or path[len(node.path) : len(node.path) + 1] in (".", "[")
        if (
            path.startswith(node.path)
            and inside
            and (best is None or len(node.path) > len(best.path))
        ):
            best = node
    return best.id if best is not None else None


def _pinned_resolver(pinned: PinnedPipelines | None) -> PipelineResolver | None:
    """Finds a sub-pipeline's plan among the versions a pipeline pinned (drawn inside it)."""
    if pinned is None:
        return None

    def resolve(name: str, version: int | None) -> ResolvedPipeline | str:
        found = pinned.find(name, version)
        if found is None:
            return f"pipeline {name!r} was not pinned"
        ref = found.ref
        return ResolvedPipeline(ref.name, ref.version, ref.digest, compile_plan(found.config))

    return resolve


def _graph_out(
    plan: Plan | None,
    name: str,
    problems: list[Problem],
    pipelines: PipelineResolver | None = None,
) -> GraphOut:
    graph = plan_graph(plan, pipelines=pipelines) if plan is not None else PlanGraph()
    return GraphOut(
        name=name,
        nodes=[_node_out(n) for n in graph.nodes],
        edges=[GraphEdgeOut(source=s, target=t) for s, t in graph.edges],
        problems=[
            GraphProblemOut(path=p.path, message=p.message, node=_concerned(graph, p.path))
            for p in problems
        ],
    )


def _config_graph(document: dict[str, Any], registry: RegistryDep) -> GraphOut:
    """Draw what the structure allows; list every problem the full validation finds."""
    name = str(document.get("name", ""))
    try:
        plan: Plan | None = parse_config(document)
    except InvalidConfig as exc:
        return _graph_out(None, name, exc.problems)
    try:
        parse_config(document, registry=registry)
    except InvalidConfig as exc:
        return _graph_out(plan, name, exc.problems)
    return _graph_out(plan, name, [])


def _draft_graph(document: dict[str, Any], registry: RegistryDep, most: int) -> GraphOut:
    """A draft's graph, once its size is known to be within the bound."""
    if count_elements(document, most) > most:
        raise InvalidConfig(
            f"the config has more than {most} elements (PIPELINE_ENGINE_GRAPH_MAX_ELEMENTS)",
            problems=[
                Problem(
                    "$.config",
                    f"more than {most} elements (objects with a type): "
                    "PIPELINE_ENGINE_GRAPH_MAX_ELEMENTS",
                )
            ],
        )
    return _config_graph(document, registry)


@router.get("/pipelines/{pipeline_id}/graph", operation_id="get_pipeline_graph")
async def get_pipeline_graph(
    pipeline_id: ViewablePipeline, engine: EngineDep, ctx: ContextDep
) -> GraphOut:
    """The pipeline's definition as a graph (stage states come from ``GET /v1/pipelines/{id}``);
    a sub-pipeline is a node holding its child's stages (ids ``<stage id>/<child stage id>``,
    the versions pinned when the pipeline was created; their states come from the child)."""
    config = await engine.get_config(pipeline_id)
    plan = await off_loop(ctx.cpu, compile_plan, config)
    pinned = await engine.get_sub_pipelines(pipeline_id) if sub_pipelines(plan) else None
    resolver = _pinned_resolver(pinned)
    return await off_loop(ctx.cpu, _graph_out, plan, config.name, [], resolver)


@router.get("/tenants/{tenant_id}/config/graph", operation_id="get_tenant_config_graph")
async def get_tenant_config_graph(
    tenant_id: TenantPath, caller: Viewer, store: StoreDep, registry: RegistryDep, ctx: ContextDep
) -> GraphOut:
    """The tenant's stored config as a graph, with its validation problems (paths under
    ``$.definition``) on the nodes they concern."""
    check_tenant(caller, tenant_id)
    row = await store.get(tenant_id)
    if row is None:
        raise TenantNotFound(f"no config for tenant {tenant_id!r}")
    document = definition_config(tenant_id, row.pipeline_definition)
    return await off_loop(ctx.cpu, _config_graph, document, registry)


@router.post("/graph", operation_id="draw_config")
async def draw_config(
    config: Annotated[
        dict[str, Any],
        Body(
            embed=True,
            description="A PipelineConfig document.",
            examples=[{"name": "draft", "definition": {"type": "step", "name": "segmentation"}}],
        ),
    ],
    caller: Viewer,
    registry: RegistryDep,
    ctx: ContextDep,
) -> GraphOut:
    """Any config (e.g. an edited draft) as a graph with its validation problems; stores nothing.

    At most ``PIPELINE_ENGINE_GRAPH_MAX_BODY_BYTES`` of body (413) and
    ``PIPELINE_ENGINE_GRAPH_MAX_ELEMENTS`` elements (422).
    """
    most = ctx.settings.graph_max_elements
    return await off_loop(ctx.cpu, _draft_graph, config, registry, most)


__all__ = ["router"]
