"""An NDJSON request body, parsed line by line as it arrives (never held whole)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import Scope

from pipeline_engine._finite import refuse_non_finite
from pipeline_engine.errors import InvalidInput, PayloadTooLarge, Problem

__all__ = ["NDJSON", "STREAMED_PATHS", "ndjson_inputs", "streamed_upload"]

NDJSON = "application/x-ndjson"
STREAMED_PATHS = frozenset({"/v1/batches"})
"""Routes that read an NDJSON body as it arrives, bounded by their own limit
(``PIPELINE_ENGINE_BATCH_MAX_BODY_BYTES``) instead of ``PIPELINE_ENGINE_MAX_BODY_BYTES``."""


def streamed_upload(scope: Scope) -> bool:
    """Whether a request is an NDJSON upload its route streams (the body limit lets it by)."""
    if scope.get("method") != "POST" or scope.get("path") not in STREAMED_PATHS:
        return False
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == NDJSON.encode())
    return False


async def ndjson_inputs(chunks: AsyncIterator[bytes], *, max_bytes: int) -> AsyncIterator[Any]:
    """The JSON values of an NDJSON body, one a line (blank lines skipped), as they arrive.

    Raises:
        InvalidInput: A line is not JSON (named by its number), or the body passes ``max_bytes``.
    """
    buffer = b""
    line_no = 0
    received = 0

    def parse(line: bytes) -> Any:
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"line {line_no} of the NDJSON body is not JSON",
                problems=[Problem(f"$[{line_no - 1}]", f"line {line_no}: {exc}")],
            ) from None
        refuse_non_finite(**{f"inputs[{line_no - 1}]": value})
        return value

    async for chunk in chunks:
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLarge(
                f"NDJSON body is larger than {max_bytes} bytes",
                details=[{"max_body_bytes": max_bytes}],
            )
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            line_no += 1
            if line.strip():
                yield parse(line)
    if buffer.strip():
        line_no += 1
        yield parse(buffer)
