"""What every pipeline engine shares: the :class:`PipelineEngine` contract and the service rules.

Below both the REST API (``api/``) and the Temporal engine (``workflows/``): tenant-config
validation, a create request's identity, idempotency and closed-run verdicts, paging, metric
points and event following are written once here and used by every engine.
"""

from pipeline_engine.service.engine import (
    BatchMember,
    CreatedPipeline,
    PipelineChange,
    PipelineEngine,
    TaskPriority,
)
from pipeline_engine.service.follow import follow_events
from pipeline_engine.service.identity import CreateIdentity, identify_create
from pipeline_engine.service.metrics import elapsed_point, metric_points
from pipeline_engine.service.prepared import PreparedConfig
from pipeline_engine.service.rules import (
    Command,
    check_same_request,
    closed_run_verdict,
    decode_page_token,
    invalid_page_token,
    page_of,
)
from pipeline_engine.service.tenant_configs import (
    check_version,
    definition_config,
    no_tenant_config,
    validate_tenant_config,
)

__all__ = [
    "BatchMember",
    "Command",
    "CreateIdentity",
    "CreatedPipeline",
    "PipelineChange",
    "PipelineEngine",
    "PreparedConfig",
    "TaskPriority",
    "check_same_request",
    "check_version",
    "closed_run_verdict",
    "decode_page_token",
    "definition_config",
    "elapsed_point",
    "follow_events",
    "identify_create",
    "invalid_page_token",
    "metric_points",
    "no_tenant_config",
    "page_of",
    "validate_tenant_config",
]
