"""Property-based run of ``schemathesis`` over the OpenAPI document: no request gives a 5xx.

A second run concentrates on query parameters (more examples for every operation that has some),
with page tokens drawn from real ones (as issued, truncated, with a digit changed, or from another
listing) as well as from arbitrary hex strings.

A third runs with the viewer, operator and admin tokens of two tenants, each with a pipeline, a
named pipeline and a batch, the path parameters drawn from both tenants' ids: no 5xx, no string
of the other tenant's data in any answer, and every route naming the other tenant's objects
answers exactly as for ids that do not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.api._fuzz_tenants import Tenant, nonexistent, seeded_tenant
from tests.api._support import ApiServer, bearer, pipeline_config, step

MAX_EXAMPLES = 5
MAX_QUERY_EXAMPLES = 12


def _examples(n: int) -> settings:
    """Hypothesis settings of a fuzz run: ``n`` examples, reproducible, no deadline."""
    return settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


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

            @_examples(MAX_QUERY_EXAMPLES if queries_only else MAX_EXAMPLES)
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


# ------------------------------------------------------- two tenants x three roles, cross-tenant
MAX_TENANT_EXAMPLES = 2
_STREAMS = ("/events", "/metrics")


def _serialized(case: Any) -> str:
    return f"{case.formatted_path} {case.query} {case.body} {case.headers}"


def _with_paths(pair: tuple[Any, dict[str, str]]) -> Any:
    case, values = pair
    case.path_parameters = {**(case.path_parameters or {}), **values}
    return case


def _path_choices(operation: Any, tenants: list[Tenant]) -> st.SearchStrategy[dict[str, str]]:
    """Path parameters drawn from both tenants' objects (and ids that name nothing)."""
    names = {p.name for p in operation.path_parameters}
    pools: dict[str, list[str]] = {}
    for t in tenants:
        for name, value in {**t.path_values(), **nonexistent(t.path_values())}.items():
            if name in names:
                pools.setdefault(name, []).append(value)
    return st.fixed_dictionaries({n: st.sampled_from(v) for n, v in pools.items()})


def _fuzz_tenants(
    spec: dict[str, Any], base_url: str, own: Tenant, other: Tenant
) -> tuple[int, list[str]]:
    """Every operation with each of ``own``'s tokens, ids of both tenants in the paths: no 5xx,
    and no string of ``other``'s data in an answer unless the request itself carried it."""
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    calls = 0

    def run(operation: Any, mode: GenerationMode, role: str, headers: dict[str, str]) -> None:
        strategy = st.tuples(
            operation.as_strategy(generation_mode=mode), _path_choices(operation, [own, other])
        ).map(_with_paths)

        @_examples(MAX_TENANT_EXAMPLES)
        @given(case=strategy)
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=base_url, headers=headers, timeout=20)
            where = f"{own.label}/{role}: {case.method} {case.formatted_path}"
            if response.status_code >= 500:
                failures.append(f"{where} -> {response.status_code} {response.text[:200]}")
            sent = _serialized(case)
            for secret in other.secrets():
                if secret in response.text and secret not in sent:
                    failures.append(f"{where} -> {response.status_code} shows {secret}")

        with contextlib.suppress(Unsatisfiable):  # nothing to make invalid
            check()

    for role, headers in own.tokens.items():
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path.endswith(_STREAMS):
                continue  # streams: _check_streams (an open one would hold the fuzz)
            run(operation, GenerationMode.POSITIVE, role, headers)
            if role == "admin":  # malformed requests: refused alike whatever the role
                run(operation, GenerationMode.NEGATIVE, role, headers)
    return calls, failures


def _concrete(path: str, values: dict[str, str]) -> str:
    for name in ("tenant_id", "pipeline_id", "stage_id", "name", "batch_id"):
        path = path.replace("{" + name + "}", values[name])
    return re.sub(r"\{[a-z_]+\}", "x1", path)  # schedule, trigger, alias ids: none exist


async def _same_as_nothing(
    http: httpx.AsyncClient, spec: dict[str, Any], own: Tenant, other: Tenant
) -> tuple[int, list[str]]:
    """Each route naming ``other``'s objects answers ``own``'s tokens byte for byte as it answers
    ids that do not exist (status and body): nothing tells that they exist."""
    failures: list[str] = []
    compared = 0
    theirs, nothing = other.path_values(), nonexistent(other.path_values())
    for path, operations in spec["paths"].items():
        if "{" not in path or path.startswith("/v1/triggers/"):  # webhook: HMAC, no token
            continue
        for method in operations:
            for role, headers in own.tokens.items():
                answers = []
                for values in (theirs, nothing):
                    url = _concrete(path, values)
                    body = {} if method in ("post", "put") else None
                    if path.endswith(_STREAMS):
                        async with http.stream(method, url, headers=headers) as r:
                            answers.append((r.status_code, await r.aread()))
                        continue
                    r = await http.request(method, url, headers=headers, json=body)
                    answers.append((r.status_code, r.content))
                compared += 1
                if answers[0] != answers[1]:
                    failures.append(f"{own.label}/{role} {method.upper()} {path}: {answers}")
                elif answers[0][0] < 400:
                    failures.append(f"{own.label}/{role} {method.upper()} {path}: {answers[0]}")
    return compared, failures


async def _check_streams(http: httpx.AsyncClient, own: Tenant, other: Tenant) -> list[str]:
    """The SSE routes: the own ended pipeline streams to its end, with none of ``other``'s data."""
    failures = []
    for suffix in _STREAMS:
        url = f"/v1/pipelines/{own.pipeline_id}{suffix}"
        async with http.stream("GET", url, headers=own.tokens["viewer"]) as r:
            text = (await r.aread()).decode()
        if r.status_code != 200 or any(s in text for s in other.secrets()):
            failures.append(f"{own.label} {suffix}: {r.status_code} {text[:200]}")
    return failures


async def test_two_tenants_three_roles_no_5xx_no_cross_tenant_data(
    api_server: ApiServer, http: httpx.AsyncClient, token: Any
) -> None:
    spec = (await http.get("/openapi.json")).json()
    a = await seeded_tenant(http, token, "a")
    b = await seeded_tenant(http, token, "b")
    started = time.monotonic()
    failures: list[str] = []
    compared = 0
    for own, other in ((a, b), (b, a)):
        n, found = await _same_as_nothing(http, spec, own, other)
        compared += n
        failures += found + await _check_streams(http, own, other)
    calls = 0
    for own, other in ((a, b), (b, a)):
        n, found = await asyncio.to_thread(_fuzz_tenants, spec, api_server.base_url, own, other)
        calls += n
        failures += found
    print(
        f"schemathesis, 2 tenants x 3 roles: {compared} 404 comparisons, {calls} requests in "
        f"{time.monotonic() - started:.1f}s"
    )
    assert compared > 200 and calls > 300  # 228 and about 800 when written
    assert not failures, "\n".join(failures)
