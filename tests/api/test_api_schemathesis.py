"""Property-based run of ``schemathesis`` over the OpenAPI document: no request gives a 5xx."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.api._support import ApiServer, bearer

MAX_EXAMPLES = 5


def _fuzz(spec: dict[str, Any], base_url: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def check(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=base_url, headers=headers, timeout=10)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} query={case.query} "
                        f"body={str(case.body)[:200]!r} -> {response.status_code} "
                        f"{response.text[:200]}"
                    )

            try:
                check()
            except Unsatisfiable:  # nothing to make invalid (e.g. no parameters, no body)
                continue
    return calls, failures


async def test_no_5xx_anywhere(api_server: ApiServer, http: httpx.AsyncClient, token: Any) -> None:
    spec = (await http.get("/openapi.json")).json()
    headers = bearer(token(["admin"], ["*"]))
    started = time.monotonic()
    calls, failures = await asyncio.to_thread(_fuzz, spec, api_server.base_url, headers)
    print(f"schemathesis: {calls} requests in {time.monotonic() - started:.1f}s")
    assert calls > 100
    assert not failures, "\n".join(failures)
