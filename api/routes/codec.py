"""``/v1/codec``: the Temporal Web UI's remote codec, so it shows stored payloads, not references.

The UI posts ``{"payloads": [...]}`` (protobuf JSON of ``temporal.api.common.v1.Payload``) to
``<endpoint>/decode`` and ``<endpoint>/encode``. Decoding replaces each payload-store reference with
the payload it points to, for pipelines of the caller's tenants (others stay references). The UI
sends a bearer token only behind its own OIDC login, so ``pipeline-engine dev`` points it at
``/v1/codec/t/<token>``: the same endpoints with the (viewer) token in the path.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Caller
from api.context import PayloadRefs
from api.deps import ContextDep, PathViewer, Viewer
from api.errors import ERROR_RESPONSES
from api.schemas import CodecPayloads
from pipeline_engine.errors import InvalidInput, PipelineError, Problem

router = APIRouter(prefix="/codec", tags=["codec"], responses=ERROR_RESPONSES)


def _owners(refs: PayloadRefs | None, body: CodecPayloads) -> list[str | None]:
    """The pipeline each payload refers to (``None``: not a reference); 422 on a bad payload."""
    owners: list[str | None] = []
    for index, item in enumerate(body.payloads):
        try:
            owner = refs.owner(item) if refs is not None else None
        except ValueError as exc:
            raise InvalidInput(
                "not a Temporal payload", problems=[Problem(f"$.payloads[{index}]", str(exc))]
            ) from None
        owners.append(owner)
    return owners


async def _readable(ctx: ContextDep, caller: Caller, pipeline_id: str) -> bool:
    if caller.all_tenants:
        return True
    try:
        tenant = await ctx.engine.tenant_of(pipeline_id)
    except PipelineError:
        return False
    return caller.can_access(tenant)


async def _decode(ctx: ContextDep, caller: Caller, body: CodecPayloads) -> CodecPayloads:
    refs = ctx.payload_refs
    out = []
    for item, owner in zip(body.payloads, _owners(refs, body), strict=True):
        if refs is None or owner is None or not await _readable(ctx, caller, owner):
            out.append(item)
        else:
            out.append(await refs.resolve(item))
    return CodecPayloads(payloads=out)


def _encode(ctx: ContextDep, body: CodecPayloads) -> CodecPayloads:
    _owners(ctx.payload_refs, body)  # 422 on a payload that is not one
    return body


@router.post("/decode", operation_id="codec_decode", response_model=CodecPayloads)
async def decode(ctx: ContextDep, caller: Viewer, body: CodecPayloads) -> CodecPayloads:
    """Replace payload-store references by the payloads they point to (Temporal Web UI codec)."""
    return await _decode(ctx, caller, body)


@router.post("/encode", operation_id="codec_encode", response_model=CodecPayloads)
async def encode(ctx: ContextDep, caller: Viewer, body: CodecPayloads) -> CodecPayloads:
    """Payloads unchanged: references are made by the workers' data converter, not by the UI."""
    return _encode(ctx, body)


@router.post("/t/{token}/decode", include_in_schema=False)
async def decode_with_path_token(
    ctx: ContextDep, caller: PathViewer, body: CodecPayloads
) -> CodecPayloads:
    return await _decode(ctx, caller, body)


@router.post("/t/{token}/encode", include_in_schema=False)
async def encode_with_path_token(
    ctx: ContextDep, caller: PathViewer, body: CodecPayloads
) -> CodecPayloads:
    return _encode(ctx, body)
