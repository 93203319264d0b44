"""Payloads by reference: Temporal's external storage (claim check) backed by a PayloadStore.

Every payload of at least ``threshold_bytes`` (activity inputs and results, workflow inputs and
results, query answers...) is written to the store by the SDK and replaced in the history by a
small reference; whoever decodes it (worker, API, the Web UI through the codec endpoint) reads it
back, so steps and clients only ever see plain values.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

from workflows.payload_store import UNSCOPED, PayloadMissing, PayloadStore, folder_path

__all__ = [
    "DRIVER_NAME",
    "PayloadStoreDriver",
    "ReferenceResolver",
    "data_converter",
    "referenced_workflow",
    "resolve_references",
]

DRIVER_NAME = "pipeline-engine.payload-store"
_REFERENCE_TYPE = ExternalStorageReference.DESCRIPTOR.full_name.encode()


class PayloadStoreDriver(StorageDriver):
    """Stores each payload once per workflow, under its SHA-256, and checks it on the way back."""

    def __init__(self, store: PayloadStore) -> None:
        self._store = store

    @property
    def payload_store(self) -> PayloadStore:
        """The store it writes to."""
        return self._store

    def name(self) -> str:
        return DRIVER_NAME

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        target = context.target
        namespace = target.namespace if target is not None else UNSCOPED
        owner = (
            target.id if isinstance(target, StorageDriverWorkflowInfo) and target.id else UNSCOPED
        )
        claims = []
        for payload in payloads:
            data = payload.SerializeToString()
            digest = hashlib.sha256(data).hexdigest()
            key = f"{folder_path(namespace, owner)}/{digest}"
            if not await self._store.exists(key):
                await self._store.put(key, data)
            claims.append(StorageDriverClaim(claim_data={"key": key, "sha256": digest}))
        return claims

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        out = []
        for claim in claims:
            key = claim.claim_data["key"]
            data = await self._store.get(key)
            if hashlib.sha256(data).hexdigest() != claim.claim_data.get("sha256"):
                raise ValueError(f"stored payload {key!r} does not match its checksum")
            payload = Payload()
            payload.ParseFromString(data)
            out.append(payload)
        return out


def store_of(converter: DataConverter) -> PayloadStore | None:
    """The payload store behind ``converter`` (``None`` when payloads travel inline)."""
    storage = converter.external_storage
    for driver in storage.drivers if storage is not None else []:
        if isinstance(driver, PayloadStoreDriver):
            return driver.payload_store
    return None


def data_converter(store: PayloadStore | None, *, threshold_bytes: int) -> DataConverter:
    """The pydantic data converter, with payloads of ``threshold_bytes`` or more in ``store``."""
    if store is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        external_storage=ExternalStorage(
            drivers=[PayloadStoreDriver(store)], payload_size_threshold=threshold_bytes
        ),
    )


def _reference(payload: Payload) -> ExternalStorageReference | None:
    if payload.metadata.get("encoding") != b"json/protobuf":
        return None
    if payload.metadata.get("messageType") != _REFERENCE_TYPE:
        return None
    ref = ExternalStorageReference()
    try:
        json_format.Parse(payload.data, ref)
    except json_format.ParseError:
        return None
    return ref if ref.driver_name == DRIVER_NAME and "key" in ref.claim_data else None


def referenced_workflow(payload: Payload) -> tuple[str, str] | None:
    """``(namespace, workflow id)`` of the folder a reference payload points into, if it is one."""
    ref = _reference(payload)
    if ref is None:
        return None
    namespace, _, rest = ref.claim_data["key"].partition("/")
    owner, _, _ = rest.partition("/")
    return unquote(namespace), unquote(owner)


async def resolve_references(store: PayloadStore, payloads: Sequence[Payload]) -> list[Payload]:
    """Each payload, with our references replaced by the stored payload they point to."""
    driver = PayloadStoreDriver(store)
    out = []
    for payload in payloads:
        ref = _reference(payload)
        if ref is None:
            out.append(payload)
            continue
        claim = StorageDriverClaim(claim_data=dict(ref.claim_data))
        out.extend(await driver.retrieve(StorageDriverRetrieveContext(), [claim]))
    return out


class ReferenceResolver:
    """Our references in the protobuf JSON the Temporal Web UI's codec protocol carries."""

    def __init__(self, store: PayloadStore) -> None:
        self._store = store

    def owner(self, payload: dict[str, Any]) -> str | None:
        """The workflow id a reference points into; ``None`` for any other payload.

        Raises:
            ValueError: ``payload`` is not a Temporal payload.
        """
        try:
            parsed = json_format.ParseDict(payload, Payload())
        except json_format.ParseError as exc:
            raise ValueError(str(exc)) from None
        found = referenced_workflow(parsed)
        return found[1] if found else None

    async def resolve(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The stored payload a reference points to (the reference itself once swept)."""
        try:
            (resolved,) = await resolve_references(
                self._store, [json_format.ParseDict(payload, Payload())]
            )
        except PayloadMissing:
            return payload
        return json_format.MessageToDict(resolved)
