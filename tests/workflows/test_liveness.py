"""The engine's memory of Temporal being down, under concurrent calls (issue 19: four 500s)."""

from __future__ import annotations

import asyncio

import pytest

from pipeline_engine.errors import EngineUnavailable
from workflows.liveness import TemporalLiveness


async def test_a_probe_failing_after_another_found_temporal_up_is_no_crash() -> None:
    calls = 0

    async def probe() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first probe hangs, then fails; the second finds Temporal up
            await asyncio.sleep(0.1)
            raise ConnectionError("still down")

    liveness = TemporalLiveness(probe, probe_timeout_s=1.0, probe_every_s=0.01)
    liveness.mark_down()
    await asyncio.sleep(0.02)
    slow = asyncio.create_task(liveness.gate())
    await asyncio.sleep(0.03)
    await liveness.gate()  # probes again: up
    assert not liveness.known_down
    await slow  # its probe failed, but Temporal was found up meanwhile: the call goes ahead
    assert not liveness.known_down


async def test_a_known_down_temporal_is_refused_and_probed_again() -> None:
    async def probe() -> None:
        raise ConnectionError("down")

    liveness = TemporalLiveness(probe, probe_timeout_s=0.1, probe_every_s=0.01)
    liveness.mark_down()
    results = await asyncio.gather(*(liveness.gate() for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, EngineUnavailable) for r in results), results
    with pytest.raises(EngineUnavailable):
        await liveness.gate()
