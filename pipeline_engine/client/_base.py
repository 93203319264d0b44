"""What the sync and async clients share: settings, request building, error mapping, retry rules."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from pipeline_engine._version import __version__
from pipeline_engine.builders import to_wire
from pipeline_engine.client._retry import RETRYABLE_STATUSES, ClientRetryPolicy
from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.errors import (
    AuthenticationError,
    EngineUnavailable,
    InvalidConfig,
    InvalidInput,
    NotFound,
    PipelineError,
    PipelineNotFound,
    TimeoutError,
    error_class_for_status,
    error_from_dict,
)
from pipeline_engine.resources import TenantConfig
from pipeline_engine.states import TERMINAL_STATES, PipelineState

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TOKEN_ENV",
    "URL_ENV",
    "BaseClient",
    "ConfigLike",
    "Deadline",
    "TokenSource",
]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_URL = "http://127.0.0.1:8000"
TOKEN_ENV = "PIPELINE_ENGINE_TOKEN"
URL_ENV = "PIPELINE_ENGINE_URL"
SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
STREAM_READ_TIMEOUT_S = 75.0
"""A stream silent this long is presumed dropped (servers send keep-alives every 15 s)."""

ConfigLike = PipelineConfig | Mapping[str, Any] | str
"""A pipeline config: a model (e.g. from the builders), a JSON-like mapping, or JSON text."""
TokenSource = str | Callable[[], str]
AsyncEndCheck = Callable[[], Awaitable[bool]]
"""Whether a stream that ended cleanly is over (else it is reconnected); ``EndCheck`` in sync."""
EndCheck = Callable[[], bool]
"""A bearer token, or a function returning the current one (called for every request)."""


class Deadline:
    """The time left for one call, retries included (``None``: no limit)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        """Seconds left (never negative), or ``None`` without a limit."""
        if self._end is None:
            return None
        return max(0.0, self._end - time.monotonic())

    def allows(self, wait: float) -> bool:
        """Whether waiting ``wait`` seconds still leaves time for another attempt."""
        left = self.remaining()
        return left is None or wait < left

    def timeout_error(self, what: str) -> TimeoutError:
        """The error raised when the deadline passes."""
        return TimeoutError(f"{what} did not complete within {self.seconds:g} s")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_response(
    response: httpx.Response, *, pipeline_id: str | None = None
) -> PipelineError:
    """The project error for a failed response (from its ``{"error", "message", "details"}``)."""
    status = response.status_code
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error = error_from_dict(body)
    else:
        error = _not_an_api_error(response)
    if type(error) is NotFound and pipeline_id is not None:
        error = PipelineNotFound(error.message, details=error.details)
    if status == 422 and type(error) is PipelineError:
        error = InvalidConfig(error.message, details=error.details)
    if isinstance(error, EngineUnavailable) and retry_after is not None:
        error = type(error)(error.message, details=error.details, retry_after_s=retry_after)
    return error


def stream_error(data: str) -> PipelineError:
    """The error sent in an ``event: error`` message; raised at once unless it is transient."""
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return EngineUnavailable(f"stream failed: {data[:200]}")
    error = error_from_dict(body)
    if isinstance(error, EngineUnavailable | TimeoutError) or type(error) is PipelineError:
        return error  # transient (or unknown server trouble): reconnect
    raise error


def tenant_config_body(config: TenantConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``PUT /v1/tenants/{id}/config`` (of a config read earlier: its writable part)."""
    if isinstance(config, TenantConfig):
        body = config.model_dump(
            mode="json",
            include={"pipeline_definition", "settings", "version", "priority", "fairness_weight"},
        )
        # unset scheduling fields stay out of the body (a server before them refuses them)
        return {k: v for k, v in body.items() if v is not None or k == "version"}
    return dict(config)


def present(**values: Any) -> dict[str, Any]:
    """The values that are not ``None`` (optional body fields and query parameters)."""
    return {name: value for name, value in values.items() if value is not None}


def json_body(value: Any) -> bytes | None:
    """A request body as JSON. NaN and Infinity go as they are, so the server names each (422)."""
    return None if value is None else json.dumps(value).encode()


def _not_an_api_error(response: httpx.Response) -> PipelineError:
    """An error answer without the API's error body: a proxy's, or not the API at all."""
    status = response.status_code
    what = f"HTTP {status} {response.reason_phrase} from {response.request.url}"
    typed = "json" in response.headers.get("content-type", "")
    if response.content and not typed and status < 500 and status not in (401, 403, 429):
        return EngineUnavailable(
            f"{what} is not an answer of the Pipeline Engine API: is the API URL right?"
        )
    return error_class_for_status(status)(what)


def not_json(response: httpx.Response) -> EngineUnavailable:
    """The error raised when a success answer is not JSON: the URL is not the API's."""
    kind = response.headers.get("content-type", "no content type")
    return EngineUnavailable(
        f"{response.request.url} answered {kind}, not the Pipeline Engine API's JSON: "
        "is the API URL right?"
    )


def unreachable(base_url: str, exc: BaseException) -> EngineUnavailable:
    """The error raised when the server cannot be reached at all."""
    reason = str(exc) or type(exc).__name__
    return EngineUnavailable(
        f"cannot reach the Pipeline Engine API at {base_url} ({reason}): is it running, "
        "and is the API URL right?"
    )


def config_to_wire(config: ConfigLike) -> Any:
    """The JSON value sent as ``config``."""
    if isinstance(config, PipelineConfig):
        return to_wire(config)
    if isinstance(config, str):
        try:
            return json.loads(config)
        except ValueError as exc:
            raise InvalidConfig(f"config is not valid JSON: {exc}") from None
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(
        "config must be a PipelineConfig (e.g. from pipeline_engine.pipeline()), a mapping or "
        f"JSON text, not {type(config).__name__}; wrap an element with pipeline(name, element)"
    )


def state_set(
    states: PipelineState | str | Iterable[PipelineState | str] | None,
) -> frozenset[PipelineState]:
    """Normalise the ``states`` argument of ``wait_for`` (``None``: any terminal state)."""
    if states is None:
        return TERMINAL_STATES
    if isinstance(states, str):
        return frozenset({PipelineState(states)})
    return frozenset(PipelineState(s) for s in states)


def _path_id(value: str) -> str:
    if not value:
        raise ValueError("an id must not be empty")
    return quote(value, safe="")


def checked_base_url(url: str, *, from_env: bool = False) -> str:
    """The API's root URL without a trailing slash, refused at once when it cannot be right.

    Raises:
        InvalidInput: No ``http://`` or ``https://`` scheme, or a URL ending in ``/v1`` (the
            client adds it).
    """
    where = f"{URL_ENV}={url!r}" if from_env else f"the API URL {url!r} (--url or {URL_ENV})"
    root = url.strip().rstrip("/")
    parts = urlsplit(root)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        example = f"http://{root}" if root and "://" not in root else DEFAULT_URL
        raise InvalidInput(
            f"{where} is not an http:// or https:// URL: give the API's address with its "
            f"scheme, e.g. {example}"
        )
    if parts.path.rstrip("/").endswith("/v1"):
        fixed = root[: -len("/v1")]
        raise InvalidInput(
            f"{where} ends in /v1: give the API's root ({fixed}); the client adds /v1 itself"
        )
    return root


class BaseClient:
    """Settings and request building shared by :class:`PipelineClient` and its async twin."""

    def __init__(
        self,
        base_url: str | None,
        *,
        token: TokenSource | None,
        timeout: float | None,
        retry_policy: ClientRetryPolicy | None,
        tenant_id: str | None,
        headers: Mapping[str, str] | None,
    ) -> None:
        url = base_url or os.environ.get(URL_ENV) or DEFAULT_URL
        self._base_url = checked_base_url(
            url, from_env=not base_url and bool(os.environ.get(URL_ENV))
        )
        self._token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self._timeout = timeout
        self._retry_policy = retry_policy or ClientRetryPolicy()
        self._tenant_id = tenant_id
        self._extra_headers = dict(headers or {})

    @property
    def base_url(self) -> str:
        """The API's base URL (without ``/v1``)."""
        return self._base_url

    @property
    def timeout(self) -> float | None:
        """Default timeout of a call, retries included, in seconds (``None``: no limit)."""
        return self._timeout

    @property
    def retry_policy(self) -> ClientRetryPolicy:
        """Default retry policy of a call."""
        return self._retry_policy

    # ------------------------------------------------------------------ building blocks
    def _headers(self, *, json_content: bool = False) -> dict[str, str]:
        headers = {"User-Agent": f"pipeline-engine-python/{__version__}", **self._extra_headers}
        if json_content:
            headers["Content-Type"] = "application/json"
        token = self._token() if callable(self._token) else self._token
        if token:
            if not token.isascii() or not token.isprintable():
                raise AuthenticationError(
                    "the bearer token has characters no token has (non-ASCII or control): "
                    "is it the whole token, as minted?"
                )
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _url(self, *parts: str) -> str:
        return self._base_url + "/v1/" + "/".join(parts)

    def _pipeline_url(self, pipeline_id: str, *rest: str) -> str:
        return self._url("pipelines", _path_id(pipeline_id), *(_path_id(r) for r in rest))

    def _deadline(self, timeout: float | None) -> Deadline:
        return Deadline(self._timeout if timeout is None else timeout)

    def _policy(self, retry_policy: ClientRetryPolicy | None) -> ClientRetryPolicy:
        return retry_policy or self._retry_policy

    @staticmethod
    def _httpx_timeout(deadline: Deadline) -> httpx.Timeout:
        left = deadline.remaining()
        if left is None:
            return httpx.Timeout(None)
        return httpx.Timeout(max(left, 0.001))

    def _stream_timeout(self, timeout: float | None) -> httpx.Timeout:
        connect = self._timeout if timeout is None else timeout
        return httpx.Timeout(connect, read=STREAM_READ_TIMEOUT_S)

    def _tenant(self, tenant_id: str | None) -> str | None:
        return tenant_id if tenant_id is not None else self._tenant_id

    @staticmethod
    def _retry_wait(
        policy: ClientRetryPolicy,
        attempt: int,
        deadline: Deadline,
        response: httpx.Response | None,
    ) -> float | None:
        """The wait before another attempt, or ``None`` to give up."""
        if attempt >= policy.max_attempts:
            return None
        retry_after = (
            parse_retry_after(response.headers.get("retry-after")) if response is not None else None
        )
        wait = policy.delay(attempt, retry_after=retry_after)
        return wait if deadline.allows(wait) else None

    @staticmethod
    def _retryable(response: httpx.Response) -> bool:
        return response.status_code in RETRYABLE_STATUSES

    # ------------------------------------------------------------------ decoding
    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise not_json(response) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._base_url!r})"
