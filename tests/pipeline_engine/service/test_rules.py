"""The service rules every engine applies: one wording, one behaviour."""

from __future__ import annotations

import pytest

from pipeline_engine import Conflict, InvalidInput, InvalidState, PipelineState
from pipeline_engine.service import (
    check_same_request,
    check_version,
    closed_run_verdict,
    decode_page_token,
    page_of,
)


def test_closed_run_verdicts() -> None:
    for state in PipelineState:
        assert closed_run_verdict("start", state) is state
    assert closed_run_verdict("cancel", PipelineState.CANCELLED) is PipelineState.CANCELLED
    with pytest.raises(InvalidState, match=r"already ended as SUCCEEDED$"):
        closed_run_verdict("cancel", PipelineState.SUCCEEDED)
    with pytest.raises(InvalidState, match="nothing to retry"):
        closed_run_verdict("retry_stage", PipelineState.FAILED)
    with pytest.raises(InvalidState, match="no input is waiting"):
        closed_run_verdict("submit_input", PipelineState.CANCELLED)


def test_a_repeated_create_must_carry_the_same_request() -> None:
    check_same_request("pl-1", fingerprint="f", stored="f", idempotency_key="k")
    with pytest.raises(Conflict) as info:
        check_same_request("pl-1", fingerprint="g", stored="f", idempotency_key="k")
    assert info.value.details == [{"pipeline_id": "pl-1", "idempotency_key": "k"}]


def test_versions_of_tenant_configs() -> None:
    check_version("acme", current=3, expected=None)
    check_version("acme", current=0, expected=0)
    with pytest.raises(Conflict, match="version is 3, not 2"):
        check_version("acme", current=3, expected=2)


def test_pages_of_an_in_memory_list() -> None:
    items = list(range(7))
    first, token = page_of(items, page_size=3, token=None)
    assert first == [0, 1, 2] and token is not None
    second, token = page_of(items, page_size=3, token=token)
    third, last = page_of(items, page_size=3, token=token)
    assert (second, third, last) == ([3, 4, 5], [6], None)
    assert decode_page_token(None) is None
    with pytest.raises(InvalidInput) as info:
        decode_page_token("xyz")
    assert [p.path for p in info.value.problems] == ["query.page_token"]
