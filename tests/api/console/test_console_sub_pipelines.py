"""A sub-pipeline in the console's graph, in headless Chromium against the live stack: one folded
node painted with its stage's state, which a double-click unfolds into the child's stages painted
from the child's own status."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.api.console.test_console_pages import (
    node_states,
    open_page,
    shot,
    token,
    wait_until,
)
from tests.support.live_stack import LiveStack


@pytest.fixture
def tenant() -> str:
    return f"ui-{uuid.uuid4().hex[:10]}"


def st(name: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, "kwargs": kwargs}


def _shown(browser: WebDriver) -> dict[str, Any]:
    script = (
        "const cy = window.consoleGraph; const n = cy.getElementById('sizing');"
        "return {folded: n.hasClass('folded'),"
        " inside: cy.getElementById('sizing/t_add').style('display')};"
    )
    shown: dict[str, Any] = browser.execute_script(script)
    return shown


def test_a_sub_pipeline_is_a_folded_node_that_unfolds_into_the_child_s_stages(
    browser: WebDriver,
    live_stack: LiveStack,
    tenant: str,
    screenshots: Path,
) -> None:
    auth = {"Authorization": f"Bearer {live_stack.token}"}
    base = f"{live_stack.base_url}/v1/tenants/{tenant}/pipelines"
    child = {"pipeline_definition": {"type": "chain", "steps": [st("t_add", n=1)]}}
    parent = {"pipeline_definition": {"type": "chain", "steps": [
        st("t_add", n=2), {"type": "pipeline", "name": "sizing"}]}}  # fmt: skip
    for name, body in (("sizing", child), ("crate", parent)):
        r = httpx.put(f"{base}/{name}", json=body, headers=auth, timeout=30)
        assert r.status_code == 201, r.text
    r = httpx.post(
        f"{live_stack.base_url}/v1/process",
        json={"tenant_id": tenant, "pipeline": "crate"},
        headers=auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    open_page(browser, live_stack, f"/ui/pipelines/{pid}", token(["viewer"], [tenant]))

    def all_green(b: WebDriver) -> bool:
        states = node_states(b)
        return bool(states) and set(states.values()) == {"SUCCEEDED"}

    wait_until(browser, all_green, "the parent's and the child's nodes green")
    assert set(node_states(browser)) == {"t_add", "sizing", "sizing/t_add"}
    assert _shown(browser) == {"folded": True, "inside": "none"}
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-node='sizing/t_add']")
    assert row.get_attribute("data-state") == "SUCCEEDED"  # painted from the child's status
    shot(browser, screenshots, "sub-pipeline-folded")
    browser.execute_script("window.consoleGraph.getElementById('sizing').emit('dbltap')")
    assert _shown(browser) == {"folded": False, "inside": "element"}
    shot(browser, screenshots, "sub-pipeline-unfolded")
