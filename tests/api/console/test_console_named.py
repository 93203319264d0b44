"""The console's named-pipeline pages in a real browser against the live stack: the list, a
pipeline's versions, a side-by-side diff drawn on the graph, rollback and alias for admins only,
and each run's page showing the version it ran."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.api.console.test_console_pages import create, open_page, shot, token, wait_until
from tests.support.live_stack import LiveStack


def add(stage_id: str, n: int) -> dict[str, Any]:
    return {"type": "step", "name": "t_add", "id": stage_id, "kwargs": {"n": n}}


V1 = {"type": "chain", "steps": [add("keep", 1), add("tweak", 1), add("gone", 1)]}
V2 = {"type": "chain", "steps": [add("keep", 1), add("tweak", 2), add("new", 3)]}


def marks(browser: WebDriver) -> Any:
    """What the page's diff marked on each side, as Cytoscape holds it (what it paints)."""
    script = (
        "const d = window.consoleDiff; if (!d) return null;"
        "const of = (cy) => Object.fromEntries(cy.nodes().filter(n => n.classes().length)"
        "  .map(n => [n.id(), n.classes().find(c => c.startsWith('diff-'))]));"
        "return [of(d.graphs[0]), of(d.graphs[1])];"
    )
    return browser.execute_script(script)


def test_versions_diff_rollback_alias_and_the_runs_version(
    browser: WebDriver, live_stack: LiveStack, screenshots: Path
) -> None:
    tenant = f"ui-n-{uuid.uuid4().hex[:8]}"
    auth = {"Authorization": f"Bearer {live_stack.token}"}
    url = f"{live_stack.base_url}/v1/tenants/{tenant}/pipelines/crates"
    for doc, message in ((V1, "first cut"), (V2, "new model")):
        r = httpx.put(url, json={"pipeline_definition": doc, "message": message}, headers=auth)
        assert r.status_code == 201, r.text

    viewer = token(["viewer"], [tenant])
    open_page(browser, live_stack, f"/ui/tenants/{tenant}/pipelines", viewer)
    row = "#named tr[data-name='crates']"
    wait_until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, row), "the pipeline listed")
    assert browser.find_element(By.CSS_SELECTOR, f"{row} .latest").text == "v2"

    open_page(browser, live_stack, f"/ui/tenants/{tenant}/pipelines/crates", viewer)
    wait_until(browser, marks, "the diff drawn")
    assert marks(browser) == [
        {"tweak": "diff-changed", "gone": "diff-removed"},
        {"tweak": "diff-changed", "new": "diff-added"},
    ]
    versions = browser.find_elements(By.CSS_SELECTOR, "#versions tr")
    assert [v.get_attribute("data-version") for v in versions] == ["2", "1"]
    assert versions[0].find_element(By.CSS_SELECTOR, ".message").text == "new model"
    assert versions[0].find_element(By.CSS_SELECTOR, ".who").text == "live-tests"
    assert len(versions[0].find_element(By.CSS_SELECTOR, ".digest").text) == 12
    patch = browser.find_element(By.ID, "patch").text
    assert "replace /steps/1/kwargs/n 2" in patch
    assert browser.find_elements(By.ID, "read-only") and not browser.find_elements(
        By.ID, "rollback"
    )
    shot(browser, screenshots, "named-diff")

    admin = token(["admin"], [tenant])
    open_page(browser, live_stack, f"/ui/tenants/{tenant}/pipelines/crates", admin)
    wait_until(browser, lambda b: b.find_elements(By.ID, "rollback"), "the admin's actions")
    Select(browser.find_element(By.ID, "rollback-to")).select_by_value("1")
    browser.find_element(By.ID, "rollback-message").send_keys("bad model")
    browser.find_element(By.CSS_SELECTOR, "#rollback button").click()
    wait_until(
        browser,
        lambda b: (
            "version 3 written, equal to version 1" in b.find_element(By.ID, "named-notice").text
        ),
        "the rollback answered",
    )
    wait_until(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#versions tr")) == 3, "v3")
    Select(browser.find_element(By.ID, "alias-version")).select_by_value("3")
    Select(browser.find_element(By.ID, "alias-canary")).select_by_value("2")
    browser.find_element(By.ID, "alias-percent").send_keys("10")
    browser.find_element(By.CSS_SELECTOR, "#alias button").click()
    wait_until(
        browser,
        lambda b: "live → v3 (canary v2 at 10%)" in b.find_element(By.ID, "named-aliases").text,
        "the alias shown",
    )
    shot(browser, screenshots, "named-admin")
    r = httpx.get(f"{live_stack.base_url}/v1/tenants/{tenant}/audit", headers=auth)
    assert [a["action"] for a in r.json()["items"]][:2] == [
        "pipeline.alias_set",
        "pipeline.rolled_back",
    ]
    assert r.json()["items"][1]["actor"] == "console-test"

    ran = httpx.post(
        f"{live_stack.base_url}/v1/process",
        json={"tenant_id": tenant, "input": {}, "pipeline": "crates", "version": 2},
        headers=auth,
    )
    assert ran.status_code == 201, ran.text
    open_page(browser, live_stack, f"/ui/pipelines/{ran.json()['pipeline_id']}", viewer)
    link = wait_until(browser, lambda b: b.find_elements(By.ID, "pipeline-ref"), "its version")[0]
    assert link.text == "pipeline crates v2"
    assert link.get_attribute("href").endswith(f"/ui/tenants/{tenant}/pipelines/crates?version=2")
    link.click()
    wait_until(browser, marks, "the run's version against the one before it")
    assert Select(browser.find_element(By.ID, "diff-to")).first_selected_option.text == "v2"
    assert Select(browser.find_element(By.ID, "diff-from")).first_selected_option.text == "v1"

    open_page(browser, live_stack, f"/ui?tenant_id={tenant}&pipeline=crates&version=2", viewer)
    run_row = f"#pipelines tr[data-pipeline='{ran.json()['pipeline_id']}']"
    wait_until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, run_row), "the run by version")
    assert browser.find_element(By.CSS_SELECTOR, f"{run_row} .version").text == "v2"
    version = browser.find_element(By.ID, "f-version")
    version.clear()
    version.send_keys("1", Keys.TAB)  # no run of version 1
    wait_until(browser, lambda b: not b.find_elements(By.CSS_SELECTOR, "#pipelines tr"), "none")

    raw = create(live_stack, {"name": "raw", "definition": add("a", 1)}, tenant, start=False)
    open_page(browser, live_stack, f"/ui/pipelines/{raw}", viewer)
    wait_until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#summary h1"), "drawn")
    assert not browser.find_elements(By.ID, "pipeline-ref")  # a raw config: no version
    browser.get("about:blank")  # close the page's event stream before the stack stops
