"""Issue 24 in a real browser: the console says when a run is reused, and its papercuts are gone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from pipeline_engine.examples import seed_pipeline_config
from tests.api.console.test_console_pages import (
    all_in,
    create,
    event_types,
    node_states,
    open_page,
    put_config,
    shot,
    token,
    wait_until,
)
from tests.support.live_stack import LiveStack
from workflows.dev_server import TemporalDevServer, temporal_cli


def test_run_of_an_identical_input_says_so_and_can_run_again(
    browser: WebDriver, live_stack: LiveStack, tenant: str, screenshots: Path
) -> None:
    put_config(live_stack, tenant, seed_pipeline_config()["definition"])
    operator = token(["operator"], [tenant])
    open_page(browser, live_stack, "/ui", operator)
    browser.find_element(By.CSS_SELECTOR, "#run button").click()
    wait_until(browser, lambda b: "/ui/pipelines/" in b.current_url, "the new pipeline's page")
    first = browser.current_url.rsplit("/", 1)[1]
    wait_until(browser, all_in("SUCCEEDED"), "the first run lit up green")

    open_page(browser, live_stack, "/ui", operator)
    browser.find_element(By.CSS_SELECTOR, "#run button").click()
    notice = wait_until(
        browser, lambda b: b.find_element(By.ID, "run-reused"), "the notice of a reused run"
    )
    text = notice.text
    assert text.startswith("An identical run exists (SUCCEEDED, "), text
    assert "open it, or run again" in text
    assert "/ui/pipelines/" not in browser.current_url  # it did not jump to the old one
    link = browser.find_element(By.ID, "run-open").get_attribute("href") or ""
    assert link.endswith(f"/ui/pipelines/{first}")
    shot(browser, screenshots, "run-reused")

    browser.find_element(By.CSS_SELECTOR, "#run button").click()  # again: still one notice
    wait_until(browser, lambda b: b.find_element(By.ID, "run-reused"), "the notice again")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#run-status > *")) == 1

    browser.find_element(By.ID, "run-again").click()
    wait_until(browser, lambda b: "/ui/pipelines/" in b.current_url, "a fresh pipeline's page")
    second = browser.current_url.rsplit("/", 1)[1]
    assert second != first
    wait_until(browser, all_in("SUCCEEDED"), "the fresh run lit up green")


def test_redoc_fetches_nothing_from_the_internet(browser: WebDriver, live_stack: LiveStack) -> None:
    browser.get(f"{live_stack.base_url}/redoc")
    wait_until(browser, lambda b: "get_pipeline" in b.page_source, "ReDoc rendered")
    wait_until(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, "a[href*='redocly']"), "its sidebar"
    )
    entries = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".map(e => [e.name, e.responseStatus, e.transferSize])"
    )
    outside = [e[0] for e in entries if not e[0].startswith(live_stack.base_url)]
    # ReDoc's own logo (cdn.redoc.ly) is refused by the page's policy before any request
    refused = [
        m["message"] for m in browser.get_log("browser") if "has been blocked" in m["message"]
    ]
    for url in outside:
        assert any(url in m and "Content Security Policy" in m for m in refused), (url, refused)


def _hover(browser: WebDriver, node_id: str) -> str:
    x, y = browser.execute_script(
        f"const p = window.consoleGraph.getElementById('{node_id}').renderedPosition();"
        "return [p.x, p.y];"
    )
    box = browser.find_element(By.ID, "graph")
    offset = (round(x - box.size["width"] / 2), round(y - box.size["height"] / 2))
    ActionChains(browser).move_to_element_with_offset(box, *offset).perform()
    wait_until(browser, lambda b: b.find_element(By.ID, "tooltip").is_displayed(), "the tooltip")
    return str(browser.find_element(By.ID, "tooltip").text)


def test_a_failed_pipeline_says_how_to_retry_and_the_tooltip_follows_the_retry(
    browser: WebDriver, live_stack: LiveStack, tenant: str, temporal_server: TemporalDevServer
) -> None:
    config = {
        "name": "ui-hints",
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "step", "name": "t_add"},
                {
                    "type": "step",
                    "id": "flaky",
                    "name": "t_flaky",
                    "kwargs": {"fail_times": 1},
                    "retry": {"max_attempts": 1},
                },
            ],
        },
    }
    pid = create(live_stack, config, tenant, start=True)
    open_page(browser, live_stack, f"/ui/pipelines/{pid}", token(["operator"], [tenant]))
    wait_until(browser, lambda b: node_states(b).get("flaky") == "FAILED", "the failed stage red")
    hint = wait_until(browser, lambda b: b.find_element(By.ID, "retry-hint"), "the retry hint")
    assert "click its red node" in hint.text
    # a signal Temporal accepts but the pipeline refuses: recorded as signal.rejected
    signal = subprocess.run(
        [temporal_cli(), "workflow", "signal", "--address", temporal_server.address,
         "-w", pid, "--name", "retry_stage", "--input", '{"stage_id": "nope", "reason": "x"}'],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert signal.returncode == 0, signal.stderr
    event_types(browser, "signal.rejected")
    row = browser.find_element(By.CSS_SELECTOR, "#events tr[data-type='signal.rejected']")
    assert "undefined" not in row.text and "signal retry_stage refused" in row.text, row.text

    text = _hover(browser, "flaky")
    assert "flaky — FAILED" in text and "click to retry" in text
    # retried from elsewhere while the pointer stays on the node: the tooltip follows
    retried = httpx.post(
        f"{live_stack.base_url}/v1/pipelines/{pid}/stages/flaky/retry",
        json={"reason": "fixed"},
        headers={"Authorization": f"Bearer {live_stack.token}"},
        timeout=30,
    )
    assert retried.status_code == 200, retried.text
    wait_until(browser, all_in("SUCCEEDED"), "every node green after the retry")
    wait_until(
        browser,
        lambda b: "flaky — SUCCEEDED" in b.find_element(By.ID, "tooltip").text,
        "the tooltip of the green node",
    )
    text = browser.find_element(By.ID, "tooltip").text
    assert "FAILED" not in text and "failed on purpose" not in text, text
    assert not browser.find_elements(By.ID, "retry-hint")


def test_run_errors_list_their_problems_once_and_filters_are_labelled(
    browser: WebDriver, live_stack: LiveStack, tenant: str
) -> None:
    put_config(live_stack, tenant, seed_pipeline_config()["definition"])
    open_page(browser, live_stack, "/ui", token(["operator"], [tenant]))
    label = browser.find_element(By.CSS_SELECTOR, "label[for='f-after']")
    assert label.text.strip() == "Started after"
    browser.find_element(By.ID, "run-tenant").clear()
    for _ in range(2):
        browser.find_element(By.CSS_SELECTOR, "#run button").click()
        wait_until(
            browser,
            lambda b: b.find_elements(By.CSS_SELECTOR, "#run-status .notice.error li"),
            "the problem",
        )
    boxes = browser.find_elements(By.CSS_SELECTOR, "#run-status .notice.error")
    assert len(boxes) == 1, [b.text for b in boxes]
    assert "$.tenant_id" in boxes[0].text, boxes[0].text

    open_page(browser, live_stack, f"/ui/tenants/{tenant}", token(["viewer"], [tenant]))
    wait_until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#graph canvas"), "the graph")
    assert not browser.find_element(By.ID, "problems-heading").is_displayed()
