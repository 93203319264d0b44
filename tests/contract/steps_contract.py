"""Steps only the contract suite uses (names prefixed ``c_``), in the default registry."""

from __future__ import annotations

from typing import Any

from pipeline_engine import StepContext, step


@step
def c_failures(ctx: StepContext) -> dict[str, Any]:
    """A chord callback: which members failed (marked by the engine) and the others' results."""
    members = ctx.previous if isinstance(ctx.previous, list) else []
    failed = [m["stage_id"] for m in members if isinstance(m, dict) and m.get("__failed__")]
    ok = [m for m in members if not (isinstance(m, dict) and m.get("__failed__"))]
    return {"failed": failed, "ok": ok}
