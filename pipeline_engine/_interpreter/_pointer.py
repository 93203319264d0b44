"""RFC 6901 JSON Pointers into a map's previous value (a dozen lines: no library needed)."""

from __future__ import annotations

from typing import Any

__all__ = ["resolve_items"]


def _describe(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def resolve_items(document: Any, pointer: str) -> list[Any]:
    """The list at ``pointer`` in ``document``; ``ValueError`` naming the pointer otherwise."""
    node = document
    if pointer:
        for raw in pointer.split("/")[1:]:
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                if token != "0" and token.startswith("0"):
                    raise ValueError(f"items pointer {pointer!r}: {token!r} is not an index")
                node = node[int(token)]
            else:
                raise ValueError(
                    f"items pointer {pointer!r} does not resolve: no {token!r} in a "
                    f"{_describe(node)}"
                )
    if not isinstance(node, list):
        where = f"at {pointer!r}" if pointer else "(the previous value)"
        raise ValueError(f"map items {where} must be a list, got {_describe(node)}")
    return node
