"""A batch's inputs in the payload store: pages of NDJSON, written as they arrive, read by page.

Neither the API nor the batch's workflow holds the inputs whole: the API writes each page once it
has :data:`PAGE_SIZE` inputs, and the workflow's activities read the one page they start
pipelines from. The pages live in the batch's folder of the store (``<namespace>/<batch id>/``),
so the retention sweep keeps them while the batch's workflow is open and drops them after.
Without a payload store a batch's inputs travel inline in its workflow's input (a small batch).
"""

from __future__ import annotations

import json
import math
from typing import Any

from pipeline_engine._ids import canonical_json
from pipeline_engine.errors import InvalidInput, Problem
from pipeline_engine.service.batches import MAX_INPUTS, too_many_inputs
from workflows.payload_store import PayloadStore, folder_path

__all__ = [
    "INLINE_LIMIT_BYTES",
    "MAX_INPUTS",
    "PAGE_SIZE",
    "InputPages",
    "page_key",
    "read_inputs",
]

PAGE_SIZE = 1000
"""Inputs per stored page."""
INLINE_LIMIT_BYTES = 512 * 1024
"""Largest inputs (JSON bytes in all) a batch carries in its workflow's input without a store."""


def page_key(namespace: str, batch_id: str, page: int) -> str:
    """Where page ``page`` of a batch's inputs is stored."""
    return f"{folder_path(namespace, batch_id)}/inputs/{page:06d}.ndjson"


class InputPages:
    """Writes a batch's inputs page by page and reads them back.

    Args:
        store: The payload store (``None``: the inputs are kept inline, up to
            :data:`INLINE_LIMIT_BYTES`).
        namespace: The Temporal namespace (the store's top folder).
        batch_id: The batch.
    """

    def __init__(self, store: PayloadStore | None, *, namespace: str, batch_id: str) -> None:
        self._store = store
        self._namespace = namespace
        self._batch_id = batch_id
        self.total = 0
        self.inline: list[Any] | None = None if store is not None else []
        self._inline_bytes = 0
        self._page: list[str] = []

    @property
    def pages(self) -> int:
        """How many pages were written."""
        return math.ceil(self.total / PAGE_SIZE) if self._store is not None else 0

    async def add(self, value: Any) -> None:
        """Add the next input (stores a page once it is full)."""
        if self.total >= MAX_INPUTS:
            raise too_many_inputs()
        text = canonical_json(value)
        self.total += 1
        if self.inline is not None:
            self._inline_bytes += len(text) + 1
            if self._inline_bytes > INLINE_LIMIT_BYTES:
                raise InvalidInput(
                    f"without a payload store a batch's inputs take at most "
                    f"{INLINE_LIMIT_BYTES} bytes",
                    problems=[
                        Problem(
                            "$.inputs",
                            "too large to travel inline: set PIPELINE_ENGINE_PAYLOAD_STORE",
                        )
                    ],
                )
            self.inline.append(value)
            return
        self._page.append(text)
        if len(self._page) == PAGE_SIZE:
            await self._flush()

    async def finish(self) -> None:
        """Store the last, partial page."""
        if self._page:
            await self._flush()

    async def _flush(self) -> None:
        assert self._store is not None
        page = (self.total - 1) // PAGE_SIZE
        data = ("\n".join(self._page) + "\n").encode()
        await self._store.put(page_key(self._namespace, self._batch_id, page), data)
        self._page = []


async def read_inputs(
    store: PayloadStore, *, namespace: str, batch_id: str, start: int, count: int
) -> list[Any]:
    """Inputs ``start`` to ``start + count`` (exclusive) of a stored batch, reading their pages."""
    out: list[Any] = []
    index = start
    end = start + count
    while index < end:
        page = index // PAGE_SIZE
        data = await store.get(page_key(namespace, batch_id, page))
        lines = data.decode().splitlines()
        first = page * PAGE_SIZE
        upto = min(end, first + len(lines))
        out.extend(json.loads(line) for line in lines[index - first : upto - first])
        if upto == index:  # the page is shorter than the batch says: nothing more to read
            break
        index = upto
    return out
