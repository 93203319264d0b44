"""``pipeline-engine api --workers N``: N processes serve one port, each a whole API."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.auth import mint_token
from pipeline_engine.settings import DEV_JWT_SECRET
from tests.support.processes import signal_and_wait, start_api
from tests.support.waiting import wait_until
from workflows.dev_server import free_port


def _workers(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(c)
        for c in children
        if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()  # not the resource tracker
    ]


async def test_two_workers_serve_one_port_and_read_new_tenants_from_the_store(
    tmp_path: Path,
) -> None:
    env = {
        "PIPELINE_ENGINE_ENV": "dev",
        "PIPELINE_ENGINE_API_WORKERS": "2",
        "PIPELINE_ENGINE_DATABASE_URL": f"sqlite:///{tmp_path / 'tenants.db'}",
        "PIPELINE_ENGINE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # nothing there
        "PIPELINE_ENGINE_PAYLOAD_STORE": str(tmp_path / "payloads"),
        "PIPELINE_ENGINE_STEP_MODULES": "tests.support.steps",
    }
    port = free_port()
    proc = start_api(env, port=port, log=tmp_path / "api.log")
    try:

        async def both_up() -> bool:
            if len(_workers(proc.pid)) != 2:
                return False
            try:  # the port is bound before the workers have imported the app
                return httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200
            except httpx.HTTPError:
                return False

        url = f"http://127.0.0.1:{port}"
        await wait_until(
            both_up, timeout=120
        )  # each worker imports the whole API (10 s at load 12)
        token = mint_token(DEV_JWT_SECRET, sub="t", roles=["admin"], tenants=["*"])
        headers = {"Authorization": f"Bearer {token}"}
        put = httpx.put(
            f"{url}/v1/tenants/acme/config",
            json={"pipeline_definition": {"type": "step", "name": "t_add"}},
            headers=headers,
            timeout=60.0,  # the other worker may still be importing: the connection waits for it
        )
        assert put.status_code == 200, put.text
        # each request on a new connection, to whichever worker accepts it: one that did not
        # store the config reads it from the database (a 503 for Temporal, never a 404)
        for i in range(8):
            r = httpx.post(
                f"{url}/v1/process",
                json={"tenant_id": "acme", "input": i},
                headers=headers,
                timeout=60.0,
            )
            assert r.status_code == 503, r.text
    finally:
        code, _ = signal_and_wait(proc)
    assert code == 0, (tmp_path / "api.log").read_text()[-2000:]
