"""The Temporal Web UI tells the truth: the bundled UI, read in a real headless Chromium.

Screenshots are kept under the test's tmp dir (``pytest --basetemp`` to keep them somewhere).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from pipeline_engine.dsl import parse_config
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import PendingInput, PipelineStatus, StageStatus
from pipeline_engine.steps import StepRegistry
from tests.support.browser import headless_chromium
from tests.support.waiting import wait_for_state
from workflows import web_ui
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import build_worker, connect

FLAKY = {
    "type": "step",
    "name": "t_flaky",
    "kwargs": {"fail_times": 1},
    "retry": {"max_attempts": 1},
}
CONFIG = {
    "name": "cultivos-abc",
    "definition": {"type": "chain", "steps": [{"type": "step", "name": "t_add"}, FLAKY]},
}


def test_summary_and_details_say_what_the_pipeline_is(registry: StepRegistry) -> None:
    plan = parse_config(CONFIG, registry=registry)
    assert web_ui.static_summary(plan, "cultivos-abc") == "cultivos-abc · 2 stages"
    assert web_ui.static_summary(plan, "acme") == "acme · cultivos-abc · 2 stages"
    details = web_ui.static_details(plan, "cultivos-abc")
    assert "```mermaid\nflowchart LR" in details and "t_flaky" in details


def test_current_details_of_a_cancelled_and_a_waiting_pipeline() -> None:
    stages = [StageStatus(stage_id="a", step="t_add", state=StageState.SUCCEEDED),
              StageStatus(stage_id="ok", step="input", kind="input",
                          state=StageState.WAITING_INPUT)]  # fmt: skip
    waiting = PipelineStatus(
        pipeline_id="pl-1",
        name="n",
        state=PipelineState.WAITING_INPUT,
        stages=stages,
        waiting_inputs=[PendingInput(stage_id="ok", prompt="Approve?")],
    )
    text = web_ui.current_details(waiting)
    assert text.startswith("**WAITING_INPUT** · 1/2 stages done")
    assert "Waiting for input `ok`: Approve?" in text and "--name submit_input" in text
    cancelled = PipelineStatus(
        pipeline_id="pl-1", name="n", state=PipelineState.CANCELLED, cancelled_by="ops-bot"
    )
    assert "Cancelled by `ops-bot`" in web_ui.current_details(cancelled)


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    """A dev server with its Web UI on (the session's server is headless)."""
    data = tmp_path_factory.mktemp("temporal-ui")
    server = TemporalDevServer(port=free_port(), ui_port=free_port(), log_file=data / "server.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def ui_engine(
    ui_server: TemporalDevServer, registry: StepRegistry, calls_dir: Path
) -> AsyncIterator[TemporalPipelineEngine]:
    client = await connect(ui_server.address)
    queue = f"ui-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue=queue, registry=registry):
        yield TemporalPipelineEngine(client, task_queue=queue, registry=registry)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with headless_chromium(height=1600) as driver:
        yield driver


def rendered_text(driver: WebDriver) -> str:
    """The page's text, with the text of the markdown frames the UI renders details in."""
    parts = [driver.find_element(By.TAG_NAME, "body").text]
    for frame in driver.find_elements(By.TAG_NAME, "iframe"):
        try:
            driver.switch_to.frame(frame)
            parts.append(driver.find_element(By.TAG_NAME, "body").text)
        except WebDriverException:
            pass  # the UI re-rendered that frame meanwhile; the next poll reads the new one
        finally:
            driver.switch_to.default_content()
    return "\n".join(parts)


def page_showing(driver: WebDriver, url: str, *needles: str, shot: Path) -> str:
    """Open ``url`` and wait (generously: the UI polls) until every needle is rendered."""
    driver.get(url)
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        text = rendered_text(driver)
        if all(n in text for n in needles):
            break
        time.sleep(1)
    driver.save_screenshot(str(shot))
    missing = [n for n in needles if n not in text]
    assert not missing, f"not rendered: {missing} (screenshot: {shot})\n{text[-3000:]}"
    return text


async def test_held_failed_pipeline_in_the_web_ui(
    ui_engine: TemporalPipelineEngine,
    ui_server: TemporalDevServer,
    browser: WebDriver,
    tmp_path: Path,
) -> None:
    created = await ui_engine.create_pipeline(CONFIG, tenant_id="cultivos-abc", start=True)
    pid = created.pipeline_id
    held = await wait_for_state(ui_engine, pid, PipelineState.FAILED)
    assert held.retryable_until is not None
    until = held.retryable_until.strftime("%Y-%m-%d %H:%M UTC")
    run_id = (await ui_engine.client.get_workflow_handle(pid).describe()).run_id
    base = f"{ui_server.ui_url}/namespaces/default/workflows/{pid}/{run_id}"

    await asyncio.to_thread(
        page_showing,
        browser,
        f"{base}/user-metadata",
        "cultivos-abc · 2 stages",  # static summary
        "flowchart LR",  # static details: the graph
        "FAILED",  # current details: the true state ...
        "stages done",  # ... the progress ...
        "Stage t_flaky failed: ValueError: attempt 1 failed on purpose",  # ... what failed
        f"retry it before {until}",  # ... until when
        "--name retry_stage",  # ... and how to retry
        shot=tmp_path / "user-metadata.png",
    )
    await asyncio.to_thread(
        page_showing,
        browser,
        f"{base}/timeline",
        f"held in FAILED until {until} — retry_stage to resume",  # the hold timer's summary
        shot=tmp_path / "timeline.png",
    )

    await ui_engine.retry_stage(pid, "t_flaky", "fixed")
    await wait_for_state(ui_engine, pid, PipelineState.SUCCEEDED)
    await asyncio.to_thread(
        page_showing,
        browser,
        f"{base}/user-metadata",
        "COMPLETED",
        "cultivos-abc · 2 stages",
        shot=tmp_path / "succeeded.png",
    )
