"""How fast ``GET /v1/batches/{id}/results`` streams, and how much memory the API holds meanwhile.

Two measurements, each printed as JSON:

``real``: a batch that ran (the Temporal SQLite file ``bench/batch_reliability.py`` leaves in its
work directory: 10,000 ended pipelines). A copy of the file is served by a Temporal dev server
(no worker: an ended pipeline's result needs none); for each code root given (``--root``, e.g. a
checkout from before a change and this one), alternating, ``--repeat`` times, a fresh
``pipeline-engine api`` from that root streams the results once. Reported per root: rows/s,
seconds to the first line, the API's resident memory before and its peak (``VmHWM``) after.

``synthetic``: the reading path of this checkout (:class:`~workflows.batch_reads.BatchReads`)
over an in-memory stand-in for the Temporal client that answers the close events of ``--size``
ended pipelines (100,000 by default) at once: the API-side cost per line (reading ahead, decoding
the close event, serialising) with Temporal's own time left out, and the Python heap's peak
(``tracemalloc``) while the stream runs, which must not grow with the batch.

``python -m bench.batch_results real --work /tmp/batch-reliability-XXXX --root /tmp/old --root .``
``python -m bench.batch_results synthetic --size 100000``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from api.auth import mint_token
from tests.support.processes import signal_and_wait, start_api
from workflows.dev_server import TemporalDevServer, free_port

SECRET = secrets.token_urlsafe(48)


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _stream(url: str, token: str) -> dict[str, Any]:
    started = time.monotonic()
    first = None
    rows = 0
    with httpx.stream(
        "GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=900
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.strip():
                rows += 1
                first = first if first is not None else time.monotonic() - started
    wall = time.monotonic() - started
    return {"rows": rows, "wall_s": round(wall, 2), "rows_per_s": round(rows / wall, 1),
            "first_line_s": round(first or 0.0, 2)}  # fmt: skip


def real(work: Path, roots: list[Path], repeat: int) -> dict[str, Any]:
    """Stream the batch of a finished reliability run from each root, alternating."""
    tmp = Path(tempfile.mkdtemp(prefix="batch-results-"))
    for name in ("temporal.db", "temporal.db-wal", "temporal.db-shm", "tenants.db"):
        if (work / name).exists():
            shutil.copy(work / name, tmp / name)
    batch_id = next(
        w.rstrip(":") for w in (work / "cli.log").read_text().split() if w.startswith("bt-")
    )
    temporal = TemporalDevServer(
        port=free_port(), ui_port=None, db_file=tmp / "temporal.db", log_file=tmp / "t.log"
    )
    temporal.start(timeout_s=300)
    token = mint_token(SECRET, sub="bench", roles=["admin"], tenants=["*"])
    runs: dict[str, list[dict[str, Any]]] = {str(r): [] for r in roots}
    try:
        for i in range(repeat):
            order = roots if i % 2 == 0 else list(reversed(roots))
            for root in order:
                port = free_port()
                env = {
                    "PYTHONPATH": str(root),
                    "PIPELINE_ENGINE_ENV": "prod",
                    "PIPELINE_ENGINE_JWT_SECRET": SECRET,
                    "PIPELINE_ENGINE_ID_SECRET": secrets.token_urlsafe(48),
                    "PIPELINE_ENGINE_TEMPORAL_ADDRESS": temporal.address,
                    "PIPELINE_ENGINE_TASK_QUEUE": "reliability",
                    "PIPELINE_ENGINE_DATABASE_URL": f"sqlite:///{tmp / 'tenants.db'}",
                    "PIPELINE_ENGINE_PAYLOAD_STORE": str(work / "payloads"),
                }
                log = tmp / f"api-{len(runs[str(root)])}.log"
                api = start_api(env, port=port, log=log, wait_s=300)
                try:
                    before = _kib(api.pid, "VmRSS")
                    found = _stream(f"http://127.0.0.1:{port}/v1/batches/{batch_id}/results", token)
                    found.update(rss_before_mib=round(before / 1024, 1),
                                 rss_peak_mib=round(_kib(api.pid, "VmHWM") / 1024, 1),
                                 load=round(os.getloadavg()[0], 1))  # fmt: skip
                finally:
                    signal_and_wait(api, timeout=20)
                runs[str(root)].append(found)
                print(json.dumps({"root": str(root), **found}), flush=True)
    finally:
        temporal.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"batch_id": batch_id, "runs": runs, "summary": _summary(runs)}


def _summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out = {}
    for root, found in runs.items():
        rates = [f["rows_per_s"] for f in found]
        out[root] = {
            "rows_per_s_median": statistics.median(rates),
            "rows_per_s_min": min(rates),
            "wall_s_median": statistics.median(f["wall_s"] for f in found),
            "rss_peak_mib_median": statistics.median(f["rss_peak_mib"] for f in found),
            "rss_growth_mib_median": statistics.median(
                f["rss_peak_mib"] - f["rss_before_mib"] for f in found
            ),
        }
    return out


# ---------------------------------------------------------------------- synthetic
class _Handle:
    """A pipeline's close event: a completed workflow whose result is its status."""

    def __init__(self, client: _Client, wid: str) -> None:
        self._client = client
        self.id = wid

    async def fetch_history_events(self, **_: Any) -> AsyncIterator[Any]:
        yield self._client.close_event


class _Client:
    """Close events of ended pipelines, answered at once (Temporal's own time left out)."""

    namespace = "default"

    def __init__(self) -> None:
        from temporalio.contrib.pydantic import pydantic_data_converter

        self.data_converter = pydantic_data_converter
        self.calls = {"history": 0}
        self.close_event: Any = None

    async def prepare(self) -> None:
        """One close event (encoded once: the stand-in's own cost stays out of the figures)."""
        from temporalio.api.history.v1 import HistoryEvent

        from pipeline_engine.status import PipelineStatus

        status = PipelineStatus(
            pipeline_id="pl-0", state="SUCCEEDED", name="bench",
            result={"tag": "size_calculator", "n": 0, "completions": [["s", "0" * 12]] * 5},
            created_at=datetime.now(UTC),
        )  # fmt: skip
        event = HistoryEvent()
        (payload,) = await self.data_converter.encode([status])
        event.workflow_execution_completed_event_attributes.result.payloads.append(payload)
        self.close_event = event

    def get_workflow_handle(self, wid: str, **_: Any) -> _Handle:
        self.calls["history"] += 1
        return _Handle(self, wid)


async def _synthetic(size: int) -> dict[str, Any]:
    from pipeline_engine.batches import BatchStatus
    from workflows.batch_reads import BatchReads

    batch_id = "bt-synthetic"

    class Reads(BatchReads):
        def _member_id(self, tenant_id: str | None, batch: str, index: int) -> str:
            return f"pl-{index}"

        def _legacy_member_id(self, tenant_id: str | None, batch: str, index: int) -> None:
            return None

        async def get_batch(self, batch: str) -> BatchStatus:
            return BatchStatus(batch_id=batch, state="SUCCEEDED", total=size,
                               counts={"SUCCEEDED": size})  # fmt: skip

    async def calls(fn: Any, **_: Any) -> Any:
        return await fn()

    reads = Reads()
    client = _Client()
    await client.prepare()
    reads._client = client  # type: ignore[assignment]
    reads._calls = calls  # type: ignore[assignment]
    tracemalloc.start()
    started = time.monotonic()
    rows = size_bytes = 0
    async for line in reads.batch_results(batch_id, tenant_id="t"):
        size_bytes += len(line.model_dump_json()) + 1
        rows += 1
    wall = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"size": size, "rows": rows, "wall_s": round(wall, 2),
            "rows_per_s": round(rows / wall, 1), "ndjson_mib": round(size_bytes / 2**20, 1),
            "heap_peak_mib": round(peak / 2**20, 2), "temporal_calls": client.calls,
            "load": round(os.getloadavg()[0], 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("real")
    r.add_argument("--work", type=Path, required=True, help="A batch_reliability work directory.")
    r.add_argument("--root", type=Path, action="append", required=True, help="Code roots.")
    r.add_argument("--repeat", type=int, default=3)
    s = sub.add_parser("synthetic")
    s.add_argument("--size", type=int, default=100_000)
    s.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "real":
        print(json.dumps(real(args.work, args.root, args.repeat), indent=2))
    else:
        found = [asyncio.run(_synthetic(args.size)) for _ in range(args.repeat)]
        for one in found:
            print(json.dumps(one), flush=True)
        rates = [f["rows_per_s"] for f in found]
        print(json.dumps({"rows_per_s_median": statistics.median(rates), "min": min(rates)}))


if __name__ == "__main__":
    main()
