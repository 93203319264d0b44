"""The console's batches page in a real browser: progress bars, failures, the redrive button, and
schedules with their next run."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.api.console.test_console_pages import open_page, shot, token, wait_until
from tests.support.live_stack import LiveStack

ITEM = {"type": "step", "name": "t_batch_item", "retry": {"max_attempts": 1}}


def test_batches_page_shows_progress_failures_and_redrives(
    browser: WebDriver, live_stack: LiveStack, screenshots: Path
) -> None:
    tenant = f"ui-b-{uuid.uuid4().hex[:8]}"
    fix = f"ui-{uuid.uuid4().hex[:8]}"
    auth = {"Authorization": f"Bearer {live_stack.token}"}
    base = live_stack.base_url
    r = httpx.put(f"{base}/v1/tenants/{tenant}/config", json={"pipeline_definition": ITEM},
                  headers=auth, timeout=30)  # fmt: skip
    assert r.status_code in (200, 201), r.text
    inputs = [{"n": i, "fail": i == 1, "fix": fix} for i in range(4)]
    r = httpx.post(f"{base}/v1/batches", json={"tenant_id": tenant, "inputs": inputs},
                   headers=auth, timeout=30)  # fmt: skip
    assert r.status_code == 201, r.text
    batch_id = r.json()["batch_id"]
    schedule = {"tenant_id": tenant, "schedule_id": "nightly", "cron": "0 2 * * *", "input": {}}
    assert httpx.post(f"{base}/v1/schedules", json=schedule, headers=auth, timeout=30).is_success

    operator = token(["operator"], [tenant])
    open_page(browser, live_stack, "/ui/batches", operator)
    row = f"#batches tr[data-batch='{batch_id}']"
    wait_until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, row), "the batch listed")
    wait_until(
        browser,
        lambda b: b.find_element(By.CSS_SELECTOR, f"{row} progress").get_attribute("value") == "4",
        "its progress bar full",
    )
    next_run = browser.find_element(
        By.CSS_SELECTOR, "#schedules tr[data-schedule='nightly'] .next-run"
    )
    assert next_run.text not in ("", "—")
    shot(browser, screenshots, "batches")

    open_page(browser, live_stack, f"/ui/batches/{batch_id}", operator)
    wait_until(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#failures tr[data-index='1']"),
        "the failed input listed",
    )  # fmt: skip
    (Path(os.environ["PIPELINE_ENGINE_TEST_CALLS"]) / f"{fix}.fixed").touch()
    browser.find_element(By.ID, "retry-failed").click()
    wait_until(
        browser,
        lambda b: "Retried 1 stages of 1 pipelines" in b.find_element(By.ID, "batch-notice").text,
        "the redrive answered",
    )
    wait_until(
        browser,
        lambda b: (
            b.find_elements(By.CSS_SELECTOR, "#batch-head [data-state='SUCCEEDED']")
            and not b.find_elements(By.CSS_SELECTOR, "#failures tr")
        ),
        "the batch SUCCEEDED with no failures left",
    )
    shot(browser, screenshots, "batch-redriven")

    viewer = token(["viewer"], [tenant])
    open_page(browser, live_stack, f"/ui/batches/{batch_id}", viewer)
    wait_until(browser, lambda b: b.find_elements(By.ID, "retry-failed"), "the page drawn")
    assert browser.find_element(By.ID, "retry-failed").get_attribute("disabled") is not None
