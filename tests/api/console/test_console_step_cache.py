"""The step cache in the console, in headless Chromium against the live stack: a stage whose result
came from the cache says so on its node, in the stage table and in its details; one that ran does
not."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.api.console.test_console_pages import all_in, open_page, shot, token, wait_until
from tests.support.live_stack import LiveStack


@pytest.fixture
def tenant() -> str:
    return f"ui-{uuid.uuid4().hex[:10]}"


CONFIG: dict[str, Any] = {
    "name": "cached",
    "definition": {
        "type": "chain",
        "steps": [
            {"type": "step", "name": "t_add", "id": "sized", "cache": {"ttl_s": 600}},
            {"type": "step", "name": "t_add", "id": "after", "kwargs": {"n": 2}},
        ],
    },
}


def _run(stack: LiveStack, tenant: str) -> str:
    body = {"config": CONFIG, "input": {}, "tenant_id": tenant, "idempotency_key": uuid.uuid4().hex}
    auth = {"Authorization": f"Bearer {stack.token}"}
    r = httpx.post(f"{stack.base_url}/v1/pipelines", json=body, headers=auth, timeout=30)
    assert r.status_code == 201, r.text
    pid: str = r.json()["pipeline_id"]
    started = httpx.post(f"{stack.base_url}/v1/pipelines/{pid}/start", headers=auth, timeout=30)
    assert started.status_code == 200, started.text
    for _ in range(600):
        status = httpx.get(f"{stack.base_url}/v1/pipelines/{pid}", headers=auth, timeout=30).json()
        if status["state"] == "SUCCEEDED":
            return pid
        assert status["state"] in ("PENDING", "RUNNING"), status
        time.sleep(0.1)
    raise AssertionError(f"{pid} did not succeed")


def _label(browser: WebDriver, node: str) -> str:
    label: str = browser.execute_script(
        f"return window.consoleGraph.getElementById('{node}').data('label');"
    )
    return label


def test_a_cached_stage_is_marked_on_its_node_row_and_details(
    browser: WebDriver, live_stack: LiveStack, tenant: str, screenshots: Path
) -> None:
    first = _run(live_stack, tenant)
    second = _run(live_stack, tenant)  # same step, kwargs and input: the cache answers
    viewer = token(["viewer"], [tenant])

    open_page(browser, live_stack, f"/ui/pipelines/{second}", viewer)
    wait_until(browser, all_in("SUCCEEDED"), "every node green")
    assert "(cached)" in _label(browser, "sized") and "(cached)" not in _label(browser, "after")
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-node='sized'] .badge.cached")
    assert row.text == "cached"
    assert not browser.find_elements(By.CSS_SELECTOR, "tr[data-node='after'] .badge.cached")
    browser.execute_script("window.consoleGraph.getElementById('sized').emit('tap')")
    details = wait_until(
        browser,
        lambda b: b.find_element(By.CSS_SELECTOR, "#details [data-stage='sized'] .badge.cached"),
        "the cached badge in the stage's details",
    )
    assert "step cache" in details.get_attribute("title")
    shot(browser, screenshots, "step-cache-hit")

    open_page(browser, live_stack, f"/ui/pipelines/{first}", viewer)  # the run that computed it
    wait_until(browser, all_in("SUCCEEDED"), "every node green")
    assert "(cached)" not in _label(browser, "sized")
    assert not browser.find_elements(By.CSS_SELECTOR, "#stages .badge.cached")
