"""One headless Chromium for the console's pages, offline but for the live stack on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.browser import headless_chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    with headless_chromium(offline=True) as driver:
        yield driver


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests leave screenshots (test artifacts, never committed)."""
    return tmp_path_factory.mktemp("console-screenshots")
