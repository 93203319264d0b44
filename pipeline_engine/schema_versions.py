"""Config schema versions: the JSON Schema of each, and the chain that upgrades older documents.

A stored document keeps the ``schema_version`` it was written in; reading it for a run passes it
through :func:`upgrade_config`, one upgrader per step (``"1"`` → ``"2"`` → …) up to
:data:`CURRENT_SCHEMA_VERSION`. Adding a version is one upgrader in :data:`UPGRADERS` (with its
test) and, when its shape differs, its frozen schema in :data:`SCHEMAS`.
"""

from __future__ import annotations

CURRENT_SCHEMA_VERSION = "1"
"""The schema version the DSL models read (and every new document is written in)."""
