"""The API's own CPU per request, in-process: no network, no Temporal call.

``httpx.ASGITransport`` drives the app that ``create_app`` builds for production (settings,
middlewares, routes, the Temporal engine) with nothing behind the engine: its client's
``start_workflow`` answers at once, and the ended pipeline read back sits in the engine's cache of
ended pipelines. What is left is what the API process itself spends on a request — the bearer
token, FastAPI's dependencies and validation, the tenant's config, the pipeline id and
fingerprint, serialising the answer, the middlewares — measured as CPU time (``process_time``),
which a busy shared machine does not inflate the way it inflates wall time.

Run it with ``python -m bench.api_cpu [--requests N] [--profile process|status]`` (``--profile``
prints where the time goes; it needs ``pip install pyinstrument``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool
from temporalio.client import Client

import pipeline_engine.builtin_steps  # noqa: F401  (registers the seed's steps)
from api.app import create_app
from api.auth import mint_token
from api.tenants import TenantConfigStore
from api.tenants.table import metadata
from bench.overhead import markdown_table
from pipeline_engine.examples import seed_tenant_config
from pipeline_engine.service.local import LocalPipelineEngine
from pipeline_engine.settings import Settings
from pipeline_engine.steps import default_registry
from workflows.engine import TemporalPipelineEngine

SECRET = "bench-api-cpu-Vb3nM7qP1xZ5kT9wL2hR6cJ0sF4dG8aY"
TENANT = "cultivos-abc"

Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def _no_start(*_args: Any, **_kwargs: Any) -> None:
    """``start_workflow`` answering at once: the request's cost without Temporal's."""


async def _ended_status(tenant: str, definition: Any) -> Any:
    """A real ended pipeline's status (the seed pipeline run in-process)."""
    local = LocalPipelineEngine(default_registry)
    try:
        created = await local.create_pipeline(
            {"schema_version": "1", "name": tenant, "definition": definition},
            input={},
            tenant_id=tenant,
            start=True,
        )
        for _ in range(600):
            status = await local.get_pipeline(created.pipeline_id)
            if status.state.is_terminal:
                return status
            await asyncio.sleep(0.05)
        raise RuntimeError("the seed pipeline did not end in 30 s")
    finally:
        await local.aclose()


async def _app_and_status() -> tuple[Any, TemporalPipelineEngine, str]:
    client = await Client.connect("127.0.0.1:1", lazy=True)  # never connects
    client.start_workflow = _no_start  # type: ignore[method-assign]
    engine = TemporalPipelineEngine(client, registry=default_registry)
    database = sa.create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    metadata.create_all(database)
    store = TenantConfigStore("sqlite://", engine=database)
    seed = seed_tenant_config()
    await store.put(
        TENANT, pipeline_definition=seed["pipeline_definition"], settings=seed["settings"]
    )
    settings = Settings(env="prod", jwt_secret=SECRET, id_secret=SECRET[::-1], log_level="WARNING")
    app = create_app(settings, engine=engine, registry=default_registry, store=store, migrate=False)
    status = await _ended_status(TENANT, seed["pipeline_definition"])
    pid = f"pl-bench-{uuid.uuid4().hex[:12]}"
    engine._final[pid] = status.model_copy(update={"pipeline_id": pid})
    return app, engine, pid


async def _measure(
    http: httpx.AsyncClient, request: Request, n: int
) -> tuple[float, float, list[float]]:
    """(CPU ms per request, wall ms per request, each request's wall ms) over ``n`` requests."""
    for i in range(min(50, n)):  # warm-up: imports, caches, first-call paths
        (await request(http, -1 - i)).raise_for_status()
    walls: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        response = await request(http, i)
        walls.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / n * 1000, wall / n * 1000, walls


async def run(args: argparse.Namespace) -> None:
    app, _engine, pid = await _app_and_status()
    token = mint_token(SECRET, sub="bench", roles=["admin"], tenants=[TENANT], ttl_s=3600)
    headers = {"Authorization": f"Bearer {token}"}

    async def healthz(http: httpx.AsyncClient, _i: int) -> httpx.Response:
        return await http.get("/healthz")

    async def status(http: httpx.AsyncClient, _i: int) -> httpx.Response:
        return await http.get(f"/v1/pipelines/{pid}", headers=headers)

    async def process(http: httpx.AsyncClient, i: int) -> httpx.Response:
        body = {"tenant_id": TENANT, "input": {"n": i}, "idempotency_key": f"k-{i}"}
        return await http.post("/v1/process", json=body, headers=headers)

    requests: dict[str, Request] = {
        "GET /healthz (the HTTP stack alone)": healthz,
        "GET /v1/pipelines/{id} (ended, cached)": status,
        "POST /v1/process (start_workflow stubbed)": process,
    }
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            if args.profile:
                await _profile(http, status if args.profile == "status" else process, args)
                return
            rows = []
            for label, request in requests.items():
                cpu, wall, walls = await _measure(http, request, args.requests)
                rows.append(
                    (
                        label,
                        str(args.requests),
                        f"{cpu:.2f}",
                        f"{wall:.2f}",
                        f"{statistics.median(walls):.2f}",
                    )
                )
    headers_row = ("request (in-process)", "n", "CPU ms/req", "wall ms/req", "wall p50 ms")
    print(markdown_table(headers_row, rows))


async def _profile(http: httpx.AsyncClient, request: Request, args: argparse.Namespace) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit("--profile needs pyinstrument: pip install pyinstrument") from None
    for i in range(50):
        await request(http, -1 - i)
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    for i in range(args.requests):
        await request(http, i)
    profiler.stop()
    print(profiler.output_text(unicode=True, show_all=args.all))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_cpu", description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="requests of each kind")
    parser.add_argument("--profile", choices=("process", "status"), help="profile one kind")
    parser.add_argument("--all", action="store_true", help="with --profile: every frame")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
