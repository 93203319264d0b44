"""Commands that talk to or run the API: token, api (owned by the front-door work)."""

from __future__ import annotations
