"""Which labels the worker's pipeline metrics carry (set once per worker process).

The worker's Prometheus page needs no token, so tenant ids are left out of its labels unless
``PIPELINE_ENGINE_METRICS_TENANT_LABEL`` asks for them. Workflow code reads this through the
sandbox's pass-through of ``pipeline_engine``; metrics are not part of a workflow's history, so
the choice never affects replay.
"""

from __future__ import annotations

__all__ = ["pipeline_labels", "set_tenant_label"]

_tenant_label = False


def set_tenant_label(enabled: bool) -> None:
    """Label pipeline metrics with tenant ids (or not) from now on, in this process."""
    global _tenant_label
    _tenant_label = enabled


def pipeline_labels(tenant_id: str, **labels: str) -> dict[str, str]:
    """``labels``, plus ``tenant`` when tenant labels are on."""
    return {**labels, "tenant": tenant_id} if _tenant_label else dict(labels)
