"""Property-based run of ``schemathesis`` over the OpenAPI document: no request gives a 5xx.

A second run concentrates on query parameters (more examples for every operation that has some),
with page tokens drawn from real ones (as issued, truncated, with a digit changed, or from another
listing) as well as from arbitrary hex strings.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.api._support import ApiServer, bearer, pipeline_config, step

MAX_EXAMPLES = 5
MAX_QUERY_EXAMPLES = 12


def _page_tokens(real: list[str]) -> st.SearchStrategy[str]:
    """Page tokens: real ones and near misses of them, and arbitrary hex."""

    def mutate(token: str, index: int) -> str:
        i = index % len(token)
        return token[:i] + ("1" if token[i] == "0" else "0") + token[i + 1 :]

    real_tokens = st.sampled_from(real)
    return st.one_of(
        real_tokens,
        st.builds(mutate, real_tokens, st.integers(min_value=0)),
        real_tokens.map(lambda t: t[: len(t) // 2]),
        real_tokens.map(lambda t: t[:-2]),
        st.text(alphabet="0123456789abcdefABCDEF", max_size=80),
    )


def _fuzz(
    spec: dict[str, Any],
    base_url: str,
    headers: dict[str, str],
    *,
    queries_only: bool = False,
    page_tokens: list[str] | None = None,
) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.query}
        if queries_only and not names:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            if page_tokens and "page_token" in names:
                strategy = st.tuples(strategy, _page_tokens(page_tokens)).map(_with_token)

            @settings(
                max_examples=MAX_QUERY_EXAMPLES if queries_only else MAX_EXAMPLES,
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


def _with_token(pair: tuple[Any, str]) -> Any:
    case, token = pair
    case.query = {**(case.query or {}), "page_token": token}
    return case


async def test_no_5xx_anywhere(api_server: ApiServer, http: httpx.AsyncClient, token: Any) -> None:
    spec = (await http.get("/openapi.json")).json()
    headers = bearer(token(["admin"], ["*"]))
    started = time.monotonic()
    calls, failures = await asyncio.to_thread(_fuzz, spec, api_server.base_url, headers)
    print(f"schemathesis: {calls} requests in {time.monotonic() - started:.1f}s")
    assert calls > 100
    assert not failures, "\n".join(failures)


async def test_no_5xx_from_query_parameters_and_page_tokens(
    api_server: ApiServer, http: httpx.AsyncClient, token: Any
) -> None:
    spec = (await http.get("/openapi.json")).json()
    tenant = f"fuzz-{uuid.uuid4().hex[:8]}"
    headers = bearer(token(["admin"], ["*"]))
    for n in range(3):
        body = {"config": pipeline_config("fuzz", step("t_add", n=n)), "tenant_id": tenant}
        assert (await http.post("/v1/pipelines", json=body, headers=headers)).status_code == 201
    real = []
    for params in ({"tenant_id": tenant, "page_size": 1}, {"page_size": 1}):
        page = (await http.get("/v1/pipelines", params=params, headers=headers)).json()
        real.append(page["next_page_token"])
    nxt = await http.get(
        "/v1/pipelines", params={**params, "page_token": real[-1]}, headers=headers
    )
    assert nxt.status_code == 200, nxt.text
    calls, failures = await asyncio.to_thread(
        _fuzz, spec, api_server.base_url, headers, queries_only=True, page_tokens=real
    )
    assert calls > 100
    assert not failures, "\n".join(failures)
