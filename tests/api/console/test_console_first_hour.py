"""Issue 24 in a real browser: the console says when a run is reused, and its papercuts are gone."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from pipeline_engine.examples import seed_pipeline_config
from tests.api.console.test_console_pages import (
    all_in,
    open_page,
    put_config,
    shot,
    token,
    wait_until,
)
from tests.support.live_stack import LiveStack


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
