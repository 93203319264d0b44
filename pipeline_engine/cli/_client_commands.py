"""Commands that drive pipelines through the REST API (run, status, history, ...)."""

from __future__ import annotations
