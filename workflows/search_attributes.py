"""The search attributes the engine needs on its Temporal namespace: which are missing, and
registering them.

The list itself is :data:`workflows.names.SEARCH_ATTRIBUTES` (one place, each with its type).
``pipeline-engine dev`` passes it to the dev server, ``pipeline-engine setup`` registers it on any
cluster, the worker and the API register what is missing at start when the cluster lets them
(``PIPELINE_ENGINE_REGISTER_SEARCH_ATTRIBUTES``), and ``/readyz`` is not ready until every one
exists. Without them Temporal refuses to start a pipeline's workflow.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from pipeline_engine.errors import EngineUnavailable
from workflows.names import SEARCH_ATTRIBUTES

__all__ = [
    "SETUP_HINT",
    "SearchAttributesMissing",
    "describe",
    "dev_server_flags",
    "ensure_search_attributes",
    "missing_from_error",
    "missing_search_attributes",
    "register_search_attributes",
    "type_name",
]

log = logging.getLogger("pipeline_engine.search_attributes")

Key = SearchAttributeKey[Any]

_TYPE_NAMES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}

SETUP_HINT = "run pipeline-engine setup (docs/operations.md: Running on your own Temporal cluster)"

_NO_MAPPING = re.compile(r"no mapping defined for search attribute (\w+)", re.IGNORECASE)


def type_name(key: Key) -> str:
    """The type's name as the ``temporal`` CLI spells it (``Keyword``, ``Int`` …)."""
    return _TYPE_NAMES[key.indexed_value_type]


def describe(keys: Sequence[Key]) -> str:
    """``TenantId (Keyword), PipelineVersion (Int)``."""
    return ", ".join(f"{key.name} ({type_name(key)})" for key in keys)


def dev_server_flags(keys: Sequence[Key] = SEARCH_ATTRIBUTES) -> list[str]:
    """``--search-attribute Name=Type`` arguments of ``temporal server start-dev``."""
    out: list[str] = []
    for key in keys:
        out += ["--search-attribute", f"{key.name}={type_name(key)}"]
    return out


class SearchAttributesMissing(EngineUnavailable):
    """The namespace lacks search attributes the engine needs (a set-up step, not bad input)."""

    def __init__(self, namespace: str, missing: Sequence[Key | str]) -> None:
        names = [m if isinstance(m, str) else f"{m.name} ({type_name(m)})" for m in missing]
        super().__init__(
            f"Temporal namespace {namespace!r} lacks the search attributes {', '.join(names)}: "
            f"{SETUP_HINT}",
            details=[{"missing_search_attributes": [n.split(" ")[0] for n in names]}],
            retry_after_s=10.0,
        )


def missing_from_error(exc: BaseException, namespace: str) -> SearchAttributesMissing | None:
    """Temporal's refusal of a workflow whose search attribute is not registered, else ``None``."""
    if not isinstance(exc, RPCError):
        return None
    found = _NO_MAPPING.search(exc.message or "")
    if found is None:
        return None
    named = found.group(1)
    key = next((k for k in SEARCH_ATTRIBUTES if k.name == named), None)
    return SearchAttributesMissing(namespace, [key if key is not None else named])


async def missing_search_attributes(
    client: Client, *, required: Sequence[Key] = SEARCH_ATTRIBUTES
) -> list[Key]:
    """The required search attributes the client's namespace does not have."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    known = set(listed.custom_attributes) | set(listed.system_attributes)
    return [key for key in required if key.name not in known]


async def register_search_attributes(client: Client, keys: Sequence[Key]) -> None:
    """Add ``keys`` (with their types) to the client's namespace."""
    if not keys:
        return
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type.value) for key in keys
            },
        )
    )


_NOT_ALLOWED = (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED)


async def ensure_search_attributes(
    client: Client, *, register: bool, required: Sequence[Key] = SEARCH_ATTRIBUTES
) -> list[Key]:
    """Register the missing search attributes when ``register`` and the cluster allows it.

    Returns:
        The ones still missing (empty when the namespace has them all).

    Raises:
        RPCError: Temporal refused to list them (or failed otherwise than by refusing the add).
    """
    missing = await missing_search_attributes(client, required=required)
    if not missing or not register:
        return missing
    try:
        await register_search_attributes(client, missing)
    except RPCError as exc:
        if exc.status not in _NOT_ALLOWED:
            raise
        log.warning(
            "not allowed to register the search attributes %s on namespace %r (%s); an operator "
            "must add them: %s",
            describe(missing),
            client.namespace,
            exc.message,
            SETUP_HINT,
        )
        return missing
    log.info("registered search attributes %s on %r", describe(missing), client.namespace)
    return await missing_search_attributes(client, required=required)
