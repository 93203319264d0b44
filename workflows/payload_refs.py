"""Payloads by reference: Temporal's external storage (claim check) backed by a PayloadStore.

Every payload of at least ``threshold_bytes`` (activity inputs and results, workflow inputs and
results, query answers...) is written to the store by the SDK and replaced in the history by a
small reference; whoever decodes it (worker, API, the Web UI through the codec endpoint) reads it
back, so steps and clients only ever see plain values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
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
    "BadReference",
    "PayloadStoreDriver",
    "ReferenceResolver",
    "checked_key",
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
            checked_key(claim.claim_data)  # only a key this driver writes is ever read
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


_DIGEST = re.compile(r"[0-9a-f]{64}")
_MAX_KEY = 1024


class BadReference(ValueError):
    """A reference of this driver whose claim names no object it could have written."""


def checked_key(claim: Mapping[str, str]) -> tuple[str, str, str]:
    """``(namespace, workflow id, digest)`` of a claim this driver could have written.

    The key must be exactly ``<namespace>/<workflow id>/<sha256>`` as
    :meth:`PayloadStoreDriver.store` writes it (each id percent-encoded into one segment, the
    digest the claim's ``sha256``), so a crafted key cannot name another workflow's folder
    (``..``, extra segments, an absolute path).

    Raises:
        BadReference: naming what is wrong.
    """
    key, digest = claim.get("key", ""), claim.get("sha256", "")
    if not key or len(key) > _MAX_KEY:
        raise BadReference(f"not a payload-store reference: a key of 1 to {_MAX_KEY} characters")
    if not _DIGEST.fullmatch(digest):
        raise BadReference("not a payload-store reference: sha256 is not 64 lowercase hex digits")
    parts = key.split("/")
    if len(parts) != 3 or parts[2] != digest:
        raise BadReference(
            "not a payload-store reference: the key is not <namespace>/<workflow id>/<its sha256>"
        )
    namespace, owner = unquote(parts[0]), unquote(parts[1])
    if not namespace or not owner or f"{folder_path(namespace, owner)}/{digest}" != key:
        raise BadReference(
            "not a payload-store reference: namespace and workflow id are not written as the "
            "store writes them"
        )
    return namespace, owner, digest


def referenced_workflow(payload: Payload) -> tuple[str, str] | None:
    """``(namespace, workflow id)`` of the folder a reference payload points into, if it is one.

    Raises:
        BadReference: it is one of ours whose key could not have been written by this driver.
    """
    ref = _reference(payload)
    if ref is None:
        return None
    namespace, owner, _ = checked_key(ref.claim_data)
    return namespace, owner


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
    """Our references in the protobuf JSON the Temporal Web UI's codec protocol carries.

    Args:
        store: Where the payloads are.
        namespace: The Temporal namespace of the API (a reference into another one is refused).
    """

    def __init__(self, store: PayloadStore, *, namespace: str | None = None) -> None:
        self._store = store
        self._namespace = namespace

    def owner(self, payload: dict[str, Any]) -> str | None:
        """The workflow id a reference points into; ``None`` for any other payload.

        Raises:
            ValueError: ``payload`` is not a Temporal payload, or a reference of ours that this
                store's driver could not have written (a crafted key, another namespace).
        """
        try:
            parsed = json_format.ParseDict(payload, Payload())
        except json_format.ParseError as exc:
            raise ValueError(str(exc)) from None
        found = referenced_workflow(parsed)
        if found is None:
            return None
        namespace, owner = found
        if self._namespace is not None and namespace != self._namespace:
            raise BadReference(
                f"not a payload-store reference of namespace {self._namespace!r}: {namespace!r}"
            )
        return owner

    async def resolve(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The stored payload a reference points to (the reference itself once swept)."""
        try:
            (resolved,) = await resolve_references(
                self._store, [json_format.ParseDict(payload, Payload())]
            )
        except PayloadMissing:
            return payload
        return json_format.MessageToDict(resolved)
