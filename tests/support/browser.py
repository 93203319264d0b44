"""Debian's headless Chromium driven by Selenium through /usr/bin/chromedriver (never a browser
or driver downloaded at run time), for the tests of pages (the console, the Temporal Web UI)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = os.environ.get("PIPELINE_ENGINE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PIPELINE_ENGINE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


def _require_browser() -> None:
    """Skip with the install line when the browser is missing; under CI=true fail instead."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() or shutil.which(path)):
            message = f"{path} not found: apt-get install -y chromium chromium-driver"
            if os.environ.get("CI") == "true":
                pytest.fail(f"browser tests must run in CI: {message}")
            pytest.skip(message)


@contextmanager
def headless_chromium(*, height: int = 1100, offline: bool = False) -> Iterator[WebDriver]:
    """A headless Chromium 1400 px wide; ``offline``: every host but 127.0.0.1 is unresolvable,
    so a page that needs the internet shows it."""
    _require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    args = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
    args.append(f"--window-size=1400,{height}")
    if offline:
        args.append("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
    for arg in args:
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
