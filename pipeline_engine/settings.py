"""Server-side configuration, from ``PIPELINE_ENGINE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEV_ID_SECRET", "DEV_JWT_SECRET", "Settings"]

DEV_JWT_SECRET = "dev-only-secret-do-not-use-in-production-0123456789"
DEV_ID_SECRET = "dev-only-id-secret-do-not-use-in-production-9f8e7d6c5b4a"


class Settings(BaseSettings):
    """Every setting of the worker, the API and the dev stack.

    Each field is read from the environment variable ``PIPELINE_ENGINE_<FIELD>`` (upper case).
    """

    model_config = SettingsConfigDict(env_prefix="PIPELINE_ENGINE_", extra="ignore")

    env: Literal["dev", "prod"] = Field("prod", description="dev relaxes the JWT secret check.")
    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    otlp_endpoint: str | None = Field(
        None,
        description='OTLP/HTTP traces URL (or "console"); the standard OTEL_* variables '
        "(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER, …) work too; tracing is off when "
        "neither is set.",
    )
    worker_metrics_port: int | None = Field(
        None, description="Port of the worker's Prometheus endpoint (off when unset)."
    )
    metrics_tenant_label: bool = Field(
        False,
        description="Label pipeline counters with tenant ids on the (unauthenticated) metrics "
        "pages of the API and the worker.",
    )
    metrics_task_queues: str = Field(
        "",
        description="Comma-separated task queues whose backlog the API's /metrics reports, "
        "besides PIPELINE_ENGINE_TASK_QUEUE (e.g. the queues named in steps' "
        "resources.task_queue).",
    )
    worker_metrics_host: str = Field(
        "127.0.0.1", description="Address of the worker's Prometheus endpoint."
    )
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_tls: bool = Field(
        False, description="Connect to Temporal over TLS with the system's roots."
    )
    temporal_tls_ca_file: Path | None = Field(
        None, description="PEM CA bundle that signs the Temporal frontend's certificate."
    )
    temporal_tls_cert_file: Path | None = Field(
        None, description="Client certificate (PEM) for mutual TLS with Temporal."
    )
    temporal_tls_key_file: Path | None = Field(
        None, description="Private key (PEM) of the Temporal client certificate."
    )
    temporal_tls_server_name: str | None = Field(
        None, description="Name expected in the Temporal frontend's certificate."
    )
    temporal_api_key: SecretStr | None = Field(
        None, description="Temporal API key (Temporal Cloud), sent as a bearer token."
    )
    register_search_attributes: bool = Field(
        True,
        description="The worker and the API add the search attributes the engine needs to the "
        "namespace when they are missing (and the cluster allows it).",
    )
    temporal_ui_url: str | None = Field(
        None, description="Temporal Web UI address; the console links each pipeline to it."
    )
    task_queue: str = Field("pipelines", description="Task queue of PipelineWorkflow.")
    step_modules: str = Field("", description="Comma-separated modules that register steps.")
    database_url: str = Field(
        "sqlite:///.data/pipeline_engine.db", description="Tenant config store (SQLAlchemy URL)."
    )
    jwt_secret: SecretStr = Field(
        SecretStr(DEV_JWT_SECRET),
        description="HS256 secret of bearer tokens without a `kid` (outside dev: at least 32 "
        "characters and about 128 bits of entropy).",
    )
    jwt_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='More HS256 keys by `kid`, as a JSON object {"kid": "secret"}: a token whose '
        "header names a kid verifies with that key only (rotation: add a key, sign with it, drop "
        "the old one once its tokens expired).",
    )
    jwt_signing_kid: str | None = Field(
        None, description="The key of jwt_keys that `pipeline-engine token` signs with."
    )
    jwt_jwks_url: str | None = Field(
        None,
        description="An OIDC issuer's JWKS URL: its RS256/ES256 tokens are accepted, keys kept "
        "and fetched again on an unknown kid (at most once per jwt_jwks_refetch_s).",
    )
    jwt_jwks_refetch_s: float = Field(
        30.0, gt=0, description="Fewest seconds between two JWKS fetches for unknown kids."
    )
    jwt_issuer: str | None = Field(
        None, description="Required `iss` of every token (HS256 included) when set."
    )
    jwt_audience: str | None = Field(
        None, description="Required `aud` of every token (HS256 included) when set."
    )
    jwt_roles_claim: str = Field("roles", description="The claim that holds the role names.")
    jwt_tenants_claim: str = Field("tenants", description="The claim that holds the tenant ids.")
    jwt_max_ttl_s: float = Field(
        31 * 86400.0,
        gt=0,
        description="Longest token lifetime accepted (exp - iat, or exp - now without iat).",
    )
    page_token_secret: SecretStr | None = Field(
        None,
        description="Key of the MAC on listing page tokens (default: derived from jwt_secret, "
        "a key of its own all the same).",
    )
    id_secret: SecretStr = Field(
        SecretStr(DEV_ID_SECRET),
        description="Key of the HMAC that derives pipeline, batch and delivery ids from (tenant, "
        "config, input, key), so no one without it can compute an id (outside dev: at least 32 "
        "characters and about 128 bits of entropy; the API and every worker need the same one).",
    )
    id_legacy_lookup: bool = Field(
        True,
        description="A create first looks for the id the same request had before ids were keyed "
        "(plain SHA-256), so repeats of creates made then find their pipeline; turn off once "
        "those pipelines are past retention (saves one Temporal call per create).",
    )
    api_host: str = Field("127.0.0.1", description="Address the API binds to.")
    api_port: int = Field(8000, description="Port the API binds to.")
    api_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Processes of `pipeline-engine api` (uvicorn workers sharing the port).",
    )
    max_body_bytes: int = Field(2 * 1024 * 1024, description="Largest request body accepted.")
    batch_max_body_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Largest NDJSON body of `POST /v1/batches` (streamed to the payload store, "
        "never held whole).",
    )
    rate_limits_enabled: bool = Field(
        True,
        description="Apply the request rate and concurrent stream limits below (false: none, "
        "e.g. behind a proxy that limits already).",
    )
    rate_limit_storage_url: str = Field(
        "memory://",
        description="Where request counts and stream slots live: memory:// (this process "
        "only) or redis://host:port/db (rediss:// for TLS), shared by every API process.",
    )
    rate_limit_key_prefix: str = Field(
        "pipeline-engine",
        min_length=1,
        max_length=100,
        description="Prefix of the limits' keys in Redis (one per deployment sharing a Redis).",
    )
    rate_limit_per_token: str = Field(
        "300/second;12000/minute",
        max_length=200,
        description='Requests one bearer token may make, in the `limits` notation ("10/second;'
        '600/minute"; "" for no limit); over it: 429 with Retry-After.',
    )
    rate_limit_per_tenant: str = Field(
        "600/second;24000/minute",
        max_length=200,
        description="Requests all the tokens of one tenant may make together (a token naming "
        'tenants counts against each; an all-tenant "*" token against none); "" for no limit.',
    )
    rate_limit_strategy: Literal["fixed-window", "sliding-window-counter", "moving-window"] = Field(
        "sliding-window-counter",
        description="How rates are counted (the `limits` library's strategies).",
    )
    streams_per_token: int = Field(
        32,
        ge=0,
        description="Concurrent streams (SSE, batch results) one token may hold open (0: none).",
    )
    streams_per_tenant: int = Field(
        128,
        ge=0,
        description="Concurrent streams open on one tenant's pipelines and batches, all tokens "
        "together (0: no limit).",
    )
    stream_lease_s: float = Field(
        30.0,
        ge=1,
        le=3600,
        description="A stream's slot is renewed every third of this while it is open: the slots "
        "of a killed API process are free again after at most this long.",
    )
    graph_max_body_bytes: int = Field(
        512 * 1024, ge=1, description="Largest body of `POST /v1/graph` (413 above)."
    )
    graph_max_elements: int = Field(
        2000,
        ge=1,
        description="Most DSL elements (JSON objects with a `type`) a `POST /v1/graph` "
        "config may hold (422 above).",
    )
    cpu_threads: int = Field(
        2,
        ge=1,
        le=64,
        description="Threads one API process computes graphs and large configs' validation "
        "in, off the event loop (more requests wait their turn).",
    )
    max_concurrent_activities: int = Field(
        64, ge=1, description="Activities one worker runs at once."
    )
    status_query_timeout_s: float = Field(
        3.0,
        gt=0,
        description="How long a status read waits for a worker (then Temporal's records answer).",
    )
    status_cache_s: float = Field(
        0.5,
        ge=0,
        description=(
            "How long an API process keeps a status answer of a running pipeline for the next "
            "reads (0: not kept); commands through the same process forget it at once."
        ),
    )
    command_timeout_s: float = Field(
        10.0,
        gt=0,
        description="How long a command (start, cancel, retry, input) waits for a worker.",
    )
    worker_drain_s: float = Field(
        30.0,
        ge=0,
        description="On SIGTERM a worker stops polling and lets running steps finish this long.",
    )
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    log_level: str = Field("INFO", description="Log level.")
    log_file: Path | None = Field(
        None,
        description="Also append JSON log lines here, tracebacks included (pipeline-engine dev: "
        "<data dir>/pipeline-engine.log).",
    )
    config_refresh_s: float = Field(
        5.0,
        gt=0,
        description="How often the API re-reads tenant configs changed by other replicas.",
    )
    sse_ping_s: float = Field(15.0, gt=0, description="Keep-alive interval of SSE streams.")
    payload_store: str = Field(
        ".data/payloads",
        description="Where payloads above payload_threshold_bytes live: a directory, or "
        's3://bucket/prefix; "" keeps every payload inline in the history.',
    )
    payload_threshold_bytes: int = Field(
        32 * 1024, ge=0, description="Payloads this large or larger travel by reference."
    )
    payload_max_bytes: int = Field(
        64 * 1024 * 1024,
        gt=0,
        description="Largest step result (JSON bytes); larger fails its stage (ResultTooLarge).",
    )
    payload_retention_s: float = Field(
        7 * 24 * 3600.0,
        ge=0,
        description="How long stored payloads outlive the end of their pipeline.",
    )
    payload_sweep_interval_s: float = Field(
        3600.0, gt=0, description="How often a worker deletes the payloads of expired pipelines."
    )
    workflow_sandbox: bool = Field(
        False,
        description="Run the pipeline workflows in the Temporal SDK's sandbox (about a third "
        "slower per workflow task; the interpreter is the only workflow code, and CI replays "
        "its recorded histories in the sandbox).",
    )
    worker_build_id: str | None = Field(
        None,
        description="The build id a worker reports to Temporal, recorded on every workflow task "
        "it completes (default: pipeline-engine@<version>; set it to your image's tag or commit "
        "to tell deploys apart).",
    )
    shard_width: int = Field(
        1000,
        ge=2,
        le=1900,
        description="Fan-outs wider than this run in child workflows (shards) of at most this "
        "many members.",
    )
    continue_as_new_events: int = Field(
        8000,
        ge=10,
        le=40_000,
        description="A pipeline's workflow continues as new past this many history events (or "
        "when Temporal suggests it), keeping its whole state.",
    )
    s3_endpoint: str | None = Field(
        None, description="S3-compatible endpoint URL (default: AWS, or AWS_ENDPOINT_URL)."
    )
    s3_region: str | None = Field(None, description="S3 region (default: AWS_REGION or us-east-1).")
    s3_access_key_id: str | None = Field(
        None, description="S3 access key (default: the usual AWS_* credentials chain)."
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret key.")

    @model_validator(mode="after")
    def _client_certificate_and_key_together(self) -> Self:
        if (self.temporal_tls_cert_file is None) != (self.temporal_tls_key_file is None):
            raise ValueError(
                "temporal_tls_cert_file and temporal_tls_key_file go together: set both or neither"
            )
        return self
