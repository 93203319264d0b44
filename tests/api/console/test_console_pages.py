"""The console in a real browser against the live stack: graphs light up, actions work, roles and
tenants are enforced, and the API docs render with no internet."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from api.auth import mint_token
from pipeline_engine.dsl import parse_config
from pipeline_engine.examples import seed_pipeline_config
from tests.support.live_stack import SECRET, LiveStack

WAIT_S = 90  # a loaded CI machine


def token(roles: list[str], tenants: list[str], sub: str = "console-test") -> str:
    return mint_token(SECRET, sub=sub, roles=roles, tenants=tenants, ttl_s=1800)


@pytest.fixture
def tenant() -> str:
    return f"ui-{uuid.uuid4().hex[:10]}"


def create(stack: LiveStack, config: dict[str, Any], tenant: str, *, start: bool) -> str:
    auth = {"Authorization": f"Bearer {stack.token}"}
    body = {"config": config, "input": {}, "tenant_id": tenant}
    response = httpx.post(f"{stack.base_url}/v1/pipelines", json=body, headers=auth, timeout=30)
    assert response.status_code == 201, response.text
    pid: str = response.json()["pipeline_id"]
    if start:
        started = httpx.post(f"{stack.base_url}/v1/pipelines/{pid}/start", headers=auth, timeout=30)
        assert started.status_code == 200, started.text
    return pid


def open_page(browser: WebDriver, stack: LiveStack, path: str, tok: str) -> None:
    browser.get("about:blank")  # a fresh load even when only the #token differs
    browser.get(f"{stack.base_url}{path}#token={tok}")


def wait_until(browser: WebDriver, check: Callable[[WebDriver], Any], what: str) -> Any:
    # live pages re-render: an element found a moment ago may be gone, so look again
    ignored = (NoSuchElementException, StaleElementReferenceException)
    wait = WebDriverWait(browser, WAIT_S, poll_frequency=0.1, ignored_exceptions=ignored)
    return wait.until(check, message=what)


def node_states(browser: WebDriver) -> dict[str, str]:
    """Each graph node's state, as Cytoscape holds it (what it paints)."""
    script = (
        "const cy = window.consoleGraph;"
        "return cy ? Object.fromEntries(cy.nodes().map(n => [n.id(), n.data('state')])) : null;"
    )
    states: dict[str, str] | None = browser.execute_script(script)
    return states or {}


def all_in(state: str) -> Callable[[WebDriver], bool]:
    def check(browser: WebDriver) -> bool:
        states = node_states(browser)
        return bool(states) and set(states.values()) == {state}

    return check


def event_types(browser: WebDriver, until: str | None = None) -> list[str]:
    """The types in the page's event list (once ``until`` is among them)."""

    def read(b: WebDriver) -> list[str]:
        return [
            e.get_attribute("data-type") or ""
            for e in b.find_elements(By.CSS_SELECTOR, "#events tr")
        ]

    if until is not None:
        wait_until(browser, lambda b: until in read(b), f"event {until} listed")
    return read(browser)


def shot(browser: WebDriver, folder: Path, name: str) -> None:
    browser.save_screenshot(str(folder / f"{name}.png"))


def test_seed_graph_goes_from_pending_to_all_green(
    browser: WebDriver, live_stack: LiveStack, tenant: str, screenshots: Path
) -> None:
    pid = create(live_stack, seed_pipeline_config(), tenant, start=False)
    open_page(browser, live_stack, f"/ui/pipelines/{pid}", token(["operator"], [tenant]))
    wait_until(browser, all_in("PENDING"), "the graph drawn, every node pending")
    stages = parse_config(seed_pipeline_config()).stages
    assert set(node_states(browser)) == {s.stage_id for s in stages}
    shot(browser, screenshots, "seed-pending")
    browser.find_element(By.CSS_SELECTOR, "#start button").click()
    wait_until(browser, all_in("SUCCEEDED"), "every node green")
    wait_until(
        browser, lambda b: b.find_element(By.ID, "result").is_displayed(), "the result shown"
    )
    event_types(browser, "pipeline.succeeded")
    assert "stage.scheduled" in event_types(browser)
    shot(browser, screenshots, "seed-succeeded")


def test_failed_stage_turns_red_and_a_retry_from_the_page_turns_it_green(
    browser: WebDriver, live_stack: LiveStack, tenant: str, screenshots: Path
) -> None:
    config = {
        "name": "ui-retry",
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
                {"type": "step", "name": "t_noop"},
            ],
        },
    }
    pid = create(live_stack, config, tenant, start=True)
    open_page(browser, live_stack, f"/ui/pipelines/{pid}", token(["operator"], [tenant]))
    wait_until(browser, lambda b: node_states(b).get("flaky") == "FAILED", "the failed stage red")
    assert node_states(browser)["t_add"] == "SUCCEEDED"
    assert node_states(browser)["t_noop"] == "PENDING"
    # hover it: its state, attempts and error
    x, y = browser.execute_script(
        "const p = window.consoleGraph.getElementById('flaky').renderedPosition();"
        "return [p.x, p.y];"
    )
    box = browser.find_element(By.ID, "graph")
    size = box.size
    offset = (round(x - size["width"] / 2), round(y - size["height"] / 2))
    ActionChains(browser).move_to_element_with_offset(box, *offset).perform()
    tip = wait_until(
        browser, lambda b: b.find_element(By.ID, "tooltip").is_displayed(), "the hover tooltip"
    )
    assert tip
    text = browser.find_element(By.ID, "tooltip").text
    assert "flaky — FAILED" in text and "attempts: 1" in text and "failed on purpose" in text
    shot(browser, screenshots, "failed-red")
    # click the red node: its error, attempts and a retry form
    browser.execute_script("window.consoleGraph.getElementById('flaky').emit('tap')")
    form = wait_until(browser, lambda b: b.find_element(By.ID, "retry-flaky"), "a retry form")
    assert "ValueError" in browser.find_element(By.ID, "details").text
    form.find_element(By.TAG_NAME, "input").send_keys("fixed the cause")
    form.find_element(By.TAG_NAME, "button").click()
    wait_until(browser, all_in("SUCCEEDED"), "every node green after the retry")
    event_types(browser, "pipeline.succeeded")
    assert "stage.retry_requested" in event_types(browser)
    shot(browser, screenshots, "retried-green")


def test_input_form_generated_from_the_schema_submits(
    browser: WebDriver, live_stack: LiveStack, tenant: str, screenshots: Path
) -> None:
    schema = {
        "type": "object",
        "required": ["approved", "note"],
        "properties": {
            "approved": {"type": "boolean"},
            "note": {"type": "string"},
            "count": {"type": "integer"},
        },
    }
    config = {
        "name": "ui-input",
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "input", "id": "review", "schema": schema, "prompt": "Approve?"},
                {"type": "step", "name": "t_echo"},
            ],
        },
    }
    pid = create(live_stack, config, tenant, start=True)
    open_page(browser, live_stack, f"/ui/pipelines/{pid}", token(["approver"], [tenant], "ana"))
    form = wait_until(browser, lambda b: b.find_element(By.ID, "input-review"), "an input form")
    assert node_states(browser)["review"] == "WAITING_INPUT"
    form.find_element(By.ID, "field-approved").click()
    form.find_element(By.ID, "field-note").send_keys("looks good")
    form.find_element(By.ID, "field-count").send_keys("3")
    shot(browser, screenshots, "input-form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(browser, all_in("SUCCEEDED"), "the pipeline finished after the input")
    status = httpx.get(
        f"{live_stack.base_url}/v1/pipelines/{pid}",
        headers={"Authorization": f"Bearer {live_stack.token}"},
        timeout=30,
    ).json()
    assert status["stages"][0]["result"] == {"approved": True, "note": "looks good", "count": 3}
    history = httpx.get(
        f"{live_stack.base_url}/v1/pipelines/{pid}/history",
        headers={"Authorization": f"Bearer {live_stack.token}"},
        timeout=30,
    ).json()
    received = [e for e in history if e["type"] == "pipeline.input_received"]
    assert received and received[0]["payload"]["responder"] == "ana"


def test_a_viewer_sees_no_action_buttons(
    browser: WebDriver, live_stack: LiveStack, tenant: str
) -> None:
    config = {
        "name": "ui-viewer",
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "input", "id": "gate", "schema": {"type": "object"}},
                {"type": "step", "name": "t_noop"},
            ],
        },
    }
    pid = create(live_stack, config, tenant, start=True)
    open_page(browser, live_stack, f"/ui/pipelines/{pid}", token(["viewer"], [tenant]))
    wait_until(
        browser, lambda b: node_states(b).get("gate") == "WAITING_INPUT", "the waiting input"
    )
    assert "waits for input" in browser.find_element(By.ID, "inputs").text
    assert browser.find_elements(By.CSS_SELECTOR, "main button, main form") == []
    # an operator of the same tenant gets them
    open_page(browser, live_stack, f"/ui/pipelines/{pid}", token(["operator"], [tenant]))
    wait_until(browser, lambda b: b.find_elements(By.ID, "cancel"), "the cancel form")


def test_another_tenants_pipeline_is_a_404_page(
    browser: WebDriver, live_stack: LiveStack, tenant: str, screenshots: Path
) -> None:
    pid = create(live_stack, seed_pipeline_config(), tenant, start=False)
    open_page(browser, live_stack, f"/ui/pipelines/{pid}", token(["admin"], ["someone-else"]))
    heading = wait_until(browser, lambda b: b.find_element(By.ID, "not-found"), "a 404 page")
    assert heading.text == "Not found"
    assert node_states(browser) == {}
    shot(browser, screenshots, "other-tenant-404")


def test_docs_render_offline(browser: WebDriver, live_stack: LiveStack, screenshots: Path) -> None:
    browser.get(f"{live_stack.base_url}/docs")
    title = wait_until(
        browser, lambda b: b.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title"), "Swagger UI"
    )
    assert "Pipeline Engine" in title.text
    wait_until(
        browser,
        lambda b: b.find_elements(By.CSS_SELECTOR, "#operations-pipelines-get_pipeline"),
        "the operations listed",
    )
    shot(browser, screenshots, "docs")
    browser.get(f"{live_stack.base_url}/redoc")
    wait_until(
        browser,
        lambda b: "get_pipeline" in b.page_source or b.find_elements(By.CSS_SELECTOR, "h1"),
        "ReDoc",
    )


def put_config(stack: LiveStack, tenant: str, definition: dict[str, Any]) -> None:
    response = httpx.put(
        f"{stack.base_url}/v1/tenants/{tenant}/config",
        json={"pipeline_definition": definition, "settings": {}},
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_list_page_shows_the_tenants_pipelines_and_runs_the_stored_one(
    browser: WebDriver, live_stack: LiveStack, tenant: str, screenshots: Path
) -> None:
    put_config(live_stack, tenant, seed_pipeline_config()["definition"])
    open_page(browser, live_stack, "/ui", token(["operator"], [tenant]))
    browser.find_element(By.CSS_SELECTOR, "#run button").click()
    wait_until(browser, lambda b: "/ui/pipelines/" in b.current_url, "the new pipeline's page")
    pid = browser.current_url.rsplit("/", 1)[1]
    wait_until(browser, all_in("SUCCEEDED"), "the run lit up green")
    browser.get(f"{live_stack.base_url}/ui")
    row = f"tr[data-pipeline='{pid}']"
    wait_until(
        browser, lambda b: "SUCCEEDED" in b.find_element(By.CSS_SELECTOR, row).text, "run listed"
    )
    tenant_filter = browser.find_element(By.ID, "f-tenant")
    tenant_filter.send_keys(tenant)
    browser.find_element(By.ID, "f-name").send_keys(tenant[:5])  # names start with the tenant
    browser.find_element(By.XPATH, "//button[text()='Filter']").click()
    count = "[data-count=SUCCEEDED]"
    wait_until(
        browser,
        lambda b: b.find_element(By.CSS_SELECTOR, count).text.strip() == "SUCCEEDED 1",
        "the count of succeeded runs",
    )
    wait_until(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, f"tr[data-pipeline='{pid}']"), "listed"
    )
    browser.find_element(By.ID, "f-name").send_keys("-no-such-name")
    browser.find_element(By.XPATH, "//button[text()='Filter']").click()
    wait_until(
        browser,
        lambda b: not b.find_elements(By.CSS_SELECTOR, f"tr[data-pipeline='{pid}']"),
        "filtered out by name",
    )
    browser.find_element(By.ID, "f-name").clear()
    state = browser.find_element(By.ID, "f-state")
    state.find_element(By.CSS_SELECTOR, "option[value=FAILED]").click()
    wait_until(
        browser,
        lambda b: not b.find_elements(By.CSS_SELECTOR, f"tr[data-pipeline='{pid}']"),
        "filtered out by state",
    )
    shot(browser, screenshots, "list")


def test_tenant_config_graph_shows_problems_on_their_nodes_read_only_for_a_viewer(
    browser: WebDriver, live_stack: LiveStack, tenant: str, screenshots: Path
) -> None:
    put_config(live_stack, tenant, seed_pipeline_config()["definition"])
    open_page(browser, live_stack, f"/ui/tenants/{tenant}", token(["viewer"], [tenant]))
    wait_until(browser, lambda b: len(node_states(b)) == 6, "the stored config drawn")
    source = browser.find_element(By.ID, "definition")
    assert source.get_attribute("readonly") is not None
    assert browser.find_elements(By.ID, "save") == []
    # an admin edits it: an unknown step is flagged on its node, and nothing is saved
    open_page(browser, live_stack, f"/ui/tenants/{tenant}", token(["admin"], [tenant]))
    wait_until(browser, lambda b: len(node_states(b)) == 6, "the stored config drawn")
    wait_until(
        browser,
        lambda b: b.find_element(By.ID, "definition").get_attribute("value"),
        "the stored definition loaded",
    )
    draft = seed_pipeline_config()["definition"]
    draft["steps"][1]["name"] = "no_such_step"
    source = browser.find_element(By.ID, "definition")
    source.clear()
    source.send_keys(json.dumps(draft))
    browser.find_element(By.ID, "save").click()
    problem = wait_until(
        browser, lambda b: b.find_element(By.CSS_SELECTOR, "#problems li"), "the problem listed"
    )
    assert problem.get_attribute("data-node") == "no_such_step"
    assert "unknown step" in problem.text
    assert browser.execute_script(
        "return window.consoleGraph.getElementById('no_such_step').hasClass('problem')"
    )
    shot(browser, screenshots, "tenant-config-problem")
    stored = httpx.get(
        f"{live_stack.base_url}/v1/tenants/{tenant}/config",
        headers={"Authorization": f"Bearer {live_stack.token}"},
        timeout=30,
    ).json()
    assert stored["version"] == 1


def test_a_wide_fan_out_is_one_node_with_a_live_count(
    browser: WebDriver, live_stack: LiveStack, tenant: str, screenshots: Path
) -> None:
    members = [{"type": "step", "name": "t_add", "kwargs": {"n": i}} for i in range(30)]
    config = {
        "name": "ui-wide",
        "definition": {
            "type": "chord",
            "group": {"type": "group", "steps": members},
            "callback": {"type": "step", "name": "t_sum"},
        },
    }
    pid = create(live_stack, config, tenant, start=True)
    open_page(browser, live_stack, f"/ui/pipelines/{pid}", token(["viewer"], [tenant]))
    wait_until(browser, all_in("SUCCEEDED"), "the fan-out and its callback green")
    labels = browser.execute_script("return window.consoleGraph.nodes().map(n => n.data('label'))")
    assert labels == ["group of 30\n30/30 done", "t_sum"]
    shot(browser, screenshots, "wide-fan-out")


def test_sign_in_form_takes_a_token_and_a_bad_one_is_refused(
    browser: WebDriver, live_stack: LiveStack, tenant: str
) -> None:
    browser.get(f"{live_stack.base_url}/ui")
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{live_stack.base_url}/ui")
    form = wait_until(browser, lambda b: b.find_element(By.ID, "login"), "the sign-in form")
    form.find_element(By.ID, "token").send_keys("not-a-jwt")
    form.find_element(By.TAG_NAME, "button").click()
    refused = wait_until(
        browser, lambda b: b.find_element(By.CSS_SELECTOR, "#login .notice"), "refused"
    )
    assert "token" in refused.text.lower()
    field = browser.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token(["viewer"], [tenant], sub="signed-in"))
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "pipelines"), "the pipeline list")
    assert "signed-in" in browser.find_element(By.ID, "who").text
    assert "#token" not in browser.current_url
