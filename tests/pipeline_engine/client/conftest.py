"""Fixtures: a scripted server behind ``httpx.MockTransport``."""

from __future__ import annotations

import httpx
import pytest

from tests.pipeline_engine.client.mock_server import Recorder


@pytest.fixture
def server() -> Recorder:
    return Recorder()


@pytest.fixture
def transport(server: Recorder) -> httpx.MockTransport:
    return httpx.MockTransport(server)
