"""Two tenants' objects and tokens for the fuzz run: a pipeline (ended), a named pipeline and a
batch of each, with a marker string inside each tenant's data that no request ever carries."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.api._support import bearer, pipeline_config, step

ROLES = ("viewer", "operator", "admin")


@dataclass
class Tenant:
    """One tenant's ids, its secrets (strings only its own data holds) and its tokens."""

    label: str
    tenant_id: str
    marker: str
    pipeline_id: str = ""
    stage_id: str = ""
    name: str = ""
    batch_id: str = ""
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def path_values(self) -> dict[str, str]:
        """This tenant's value of every path parameter that names an object."""
        return {
            "tenant_id": self.tenant_id,
            "pipeline_id": self.pipeline_id,
            "stage_id": self.stage_id,
            "name": self.name,
            "batch_id": self.batch_id,
        }

    def secrets(self) -> list[str]:
        """Strings that may appear only in answers to this tenant's own tokens."""
        return [self.tenant_id, self.marker, self.pipeline_id, self.name, self.batch_id]


def nonexistent(values: dict[str, str]) -> dict[str, str]:
    """Ids shaped like ``values`` (same length, same look) that name nothing."""
    return {k: v[:-4] + "zzzz" if len(v) > 4 else v + "zz" for k, v in values.items()}


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def _until(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], done: set[str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        body = await _ok(await http.get(path, headers=headers))
        if body["state"] in done:
            return body
        assert time.monotonic() < deadline, f"{path} still {body['state']}"
        await asyncio.sleep(0.2)


async def seeded_tenant(http: httpx.AsyncClient, token: Any, label: str) -> Tenant:
    """A tenant with a config, an ended pipeline, a named pipeline and an ended batch."""
    hexid = uuid.uuid4().hex[:10]
    tenant = Tenant(label, f"fz{label}-{hexid}", f"secret{label}-{uuid.uuid4().hex[:12]}")
    tenant.tokens = {
        role: bearer(token([role], [tenant.tenant_id], sub=f"fuzz-{label}-{role}"))
        for role in ROLES
    }
    admin = tenant.tokens["admin"]
    definition = step("t_add", n=1)
    await _ok(
        await http.put(
            f"/v1/tenants/{tenant.tenant_id}/config",
            json={"pipeline_definition": definition},
            headers=admin,
        )
    )
    created = await _ok(
        await http.post(
            "/v1/pipelines",
            json={
                "config": pipeline_config(f"cfg{tenant.marker}", definition),
                "tenant_id": tenant.tenant_id,
                "input": {"secret": tenant.marker},
            },
            headers=admin,
        )
    )
    tenant.pipeline_id = created["pipeline_id"]
    await _ok(await http.post(f"/v1/pipelines/{tenant.pipeline_id}/start", headers=admin))
    ended = await _until(http, f"/v1/pipelines/{tenant.pipeline_id}", admin, {"SUCCEEDED"})
    tenant.stage_id = ended["stages"][0]["stage_id"]
    tenant.name = f"np{label}-{hexid}"
    await _ok(
        await http.put(
            f"/v1/tenants/{tenant.tenant_id}/pipelines/{tenant.name}",
            json={"pipeline_definition": definition, "message": tenant.marker},
            headers=admin,
        )
    )
    batch = await _ok(
        await http.post(
            "/v1/batches",
            json={"tenant_id": tenant.tenant_id, "inputs": [{"secret": tenant.marker}]},
            headers=admin,
        )
    )
    tenant.batch_id = batch["batch_id"]
    await _until(http, f"/v1/batches/{tenant.batch_id}", admin, {"SUCCEEDED", "FAILED"})
    return tenant
