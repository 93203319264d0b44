// One pipeline: its graph lit by stage state (live from the event stream), details, events, actions.
import { ApiError, api, can, claims, followEvents } from "./api.js";
import { badge, cachedBadge, el, fill, json, notice, seconds, when } from "./dom.js";
import { drawGraph, fanOutCount, nodeState, paint, stagesOf } from "./graph.js";
import { refLink } from "./named.js";
import { schemaForm } from "./schema_form.js";

const TERMINAL = new Set(["SUCCEEDED", "CANCELLED"]);
const MAX_STAGES = 20000; // the most stages the page reads (20 pages); fan-outs count those
const MAX_EVENT_ROWS = 500; // the newest events listed

/** What an event's payload says, in words (a failed stage's error, a refused signal, a reason). */
export function eventDetail(p) {
  if (p.error && typeof p.error === "object") return `${p.error.type || "error"}: ${p.error.message || ""}`;
  if (p.signal) return [`signal ${p.signal} refused`, p.error, p.reason].filter(Boolean).join(": ");
  return [typeof p.error === "string" ? p.error : null, p.reason, p.responder ? `by ${p.responder}` : null].filter(Boolean).join(": ");
}

export function pipelinePage(main, pipelineId, showError) {
  const path = `/pipelines/${encodeURIComponent(pipelineId)}`;
  const aborter = new AbortController();
  const view = {
    head: el("div", { class: "card", id: "summary" }),
    inputs: el("div", { id: "inputs" }),
    box: el("div", { id: "graph" }),
    details: el("div", { class: "card", id: "details" }, el("p", { class: "muted" }, "Click a node for its attempts, error, result and timing; on a red node, retry it.")),
    outcome: el("div", { id: "outcome" }),
    events: el("tbody", { id: "events" }),
    table: el("tbody", { id: "stages" }),
  };
  const tooltip = document.getElementById("tooltip");
  let graph;
  let cy;
  let status;
  let selected = null;
  let lastEventId = null;
  let refreshing = null;

  fill(main,
    view.head, view.inputs,
    el("div", { class: "layout" }, [view.box, view.details]),
    view.outcome,
    el("h2", {}, "Stages"),
    el("table", {}, [el("thead", {}, el("tr", {}, ["Node", "State", "Attempts", "Started", "Took", "Error"].map((h) => el("th", {}, h)))), view.table]),
    el("h2", {}, "Events"),
    el("div", { class: "events" }, el("table", {}, [el("thead", {}, el("tr", {}, ["#", "Time", "Type", "Stage", "Detail"].map((h) => el("th", {}, h)))), view.events])),
  );

  async function act(method, suffix, body, where) {
    try {
      await api(method, `${path}${suffix}`, body);
      await refresh();
      follow();
    } catch (error) {
      showError(error, where);
    }
  }

  function reasonForm(id, label, onSubmit, cls = "") {
    const reason = el("input", { id: `${id}-reason`, placeholder: "reason", required: true });
    const form = el("form", { class: "row", id }, [reason, el("button", { class: cls, type: "submit" }, label)]);
    form.addEventListener("submit", (e) => { e.preventDefault(); onSubmit(reason.value, form); });
    return form;
  }

  function renderHead() {
    const ui = document.querySelector("meta[name=temporal-ui]").content;
    const ns = document.querySelector("meta[name=temporal-namespace]").content;
    const link = ui ? el("a", { id: "temporal-link", href: `${ui}/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(pipelineId)}`, target: "_blank", rel: "noopener" }, "Open in Temporal Web UI") : null;
    const cancel = can("operator") && !TERMINAL.has(status.state)
      ? reasonForm("cancel", "Cancel pipeline", (reason, form) => act("POST", "/cancel", { reason }, form), "danger")
      : null;
    const start = can("operator") && status.state === "PENDING"
      ? el("form", { class: "row", id: "start", onsubmit: (e) => { e.preventDefault(); act("POST", "/start", undefined, e.target); } },
        el("button", { class: "primary", type: "submit" }, "Start"))
      : null;
    fill(view.head,
      el("h1", {}, [`${status.name} `, badge(status.state)]),
      el("div", { class: "row muted" }, [
        el("span", {}, pipelineId), status.tenant_id ? el("a", { href: `/ui/tenants/${encodeURIComponent(status.tenant_id)}` }, `tenant ${status.tenant_id}`) : null,
        refLink(status.tenant_id, status.pipeline_ref),
        el("span", {}, `created ${when(status.created_at)}`),
        status.finished_at ? el("span", {}, `finished ${when(status.finished_at)}`) : null,
        status.retryable_until && status.state === "FAILED" ? el("span", {}, `retryable until ${when(status.retryable_until)}`) : null,
        link,
      ]),
      can("operator") && status.state === "FAILED" && status.retryable_until
        ? el("p", { class: "notice", id: "retry-hint" }, "A stage failed: click its red node in the graph to retry it (with a reason); the pipeline goes on from there.")
        : null,
      start,
      cancel,
    );
  }

  function renderInputs() {
    if (!status.waiting_inputs.length) return fill(view.inputs);
    fill(view.inputs, ...status.waiting_inputs.map((input) => {
      if (!can("approver")) return el("div", { class: "card" }, `${input.stage_id} waits for input (an approver answers it).`);
      const generated = schemaForm(input.schema || {});
      const form = el("form", { class: "card", id: `input-${input.stage_id}`, "data-stage": input.stage_id }, [
        el("h2", {}, `Input ${input.stage_id}`), input.prompt ? el("p", {}, input.prompt) : null,
        generated.node, el("button", { class: "primary", type: "submit" }, "Submit input"),
      ]);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        let payload;
        try {
          payload = generated.payload();
        } catch (error) {
          return form.prepend(notice(`not valid JSON: ${error.message}`, "error"));
        }
        act("POST", "/input", { payload, responder: claims().sub, stage_id: input.stage_id }, form);
      });
      return form;
    }));
  }

  function stageLines(stages) {
    return stages.map((s) => {
      const retry = can("operator") && s.state === "FAILED" && status.state === "FAILED"
        ? reasonForm(`retry-${s.stage_id}`, "Retry stage", (reason, form) => act("POST", `/stages/${encodeURIComponent(s.stage_id)}/retry`, { reason }, form))
        : null;
      return el("div", { class: "card", "data-stage": s.stage_id }, [
        el("div", { class: "row" }, [el("strong", {}, s.stage_id), badge(s.state), s.cached ? cachedBadge() : null, el("span", { class: "muted" }, `${s.step} · ${s.attempts} attempt(s)`)]),
        el("div", { class: "muted" }, `scheduled ${when(s.scheduled_at)} · finished ${when(s.finished_at)} · took ${seconds(s.scheduled_at, s.finished_at) || "–"}`),
        s.error ? el("p", { class: "error" }, `${s.error.type}: ${s.error.message}`) : null,
        s.result !== null && s.result !== undefined ? json(s.result) : null,
        retry,
      ]);
    });
  }

  let detailsShown = null;
  function renderDetails() {
    if (!selected) return;
    const mine = stagesOf(selected, status.stages);
    const shown = selected.kind === "step" || selected.kind === "input" ? mine
      : mine.filter((s) => s.state !== "SUCCEEDED").slice(0, 20);
    const key = JSON.stringify([selected.id, status.state, mine.map((s) => [s.state, s.attempts])]);
    if (key === detailsShown) return; // unchanged: keep what is being typed
    detailsShown = key;
    fill(view.details,
      el("h2", {}, `${selected.label} (${selected.kind})`),
      selected.kind === "group" || selected.kind === "map" ? el("p", {}, fanOutCount(selected, status.stages)) : null,
      ...stageLines(shown),
    );
  }

  /** This pipeline's stages and its children's (`<stage id>/<child's>`, read-only here). */
  const allStages = () => [...status.stages, ...(status.childStages || [])];

  function renderTable() {
    const stages = allStages();
    fill(view.table, ...graph.nodes.map((node) => {
      const mine = stagesOf(node, stages);
      const first = mine[0] || {};
      const state = nodeState(node, stages);
      const errors = mine.filter((s) => s.error).map((s) => `${s.stage_id}: ${s.error.type}: ${s.error.message}`);
      const cached = mine.filter((s) => s.cached).length;
      const fanOut = node.kind === "group" || node.kind === "map";
      return el("tr", { "data-node": node.id, "data-state": state }, [
        el("td", {}, ["step", "input", "pipeline"].includes(node.kind) ? node.id : `${node.label} (${fanOutCount(node, stages)})`),
        el("td", {}, [badge(state), cached ? cachedBadge(fanOut ? cached : null) : null]),
        el("td", {}, String(mine.reduce((n, s) => n + s.attempts, 0))),
        el("td", {}, when(first.scheduled_at)),
        el("td", {}, seconds(first.scheduled_at, first.finished_at)),
        el("td", { class: "error" }, errors.slice(0, 3).join("\n")),
      ]);
    }));
  }

  let headState = null;
  let inputsShown = null;
  function render() {
    if (headState !== status.state) renderHead();
    headState = status.state;
    const waiting = status.waiting_inputs.map((i) => i.stage_id).join(",");
    if (inputsShown !== waiting) renderInputs(); // keeps what is being typed
    inputsShown = waiting;
    paint(cy, graph, allStages());
    refreshTooltip();
    renderTable();
    renderDetails();
    fill(view.outcome,
      status.error ? el("div", { class: "card" }, [el("h2", {}, "Error"), el("p", { class: "error" }, `${status.error.stage_id ? `${status.error.stage_id}: ` : ""}${status.error.type}: ${status.error.message}`)]) : null,
      status.state === "SUCCEEDED" ? el("div", { class: "card", id: "result" }, [el("h2", {}, "Result"), json(status.result)]) : null,
    );
    main.dataset.state = status.state;
  }

  async function readStatus() {
    // Large pipelines answer a page of stages at a time: read on, up to MAX_STAGES.
    const first = await api("GET", path);
    const stages = [...first.stages];
    while (first.stages_total > stages.length && stages.length < MAX_STAGES) {
      const next = await api("GET", `${path}?stage_offset=${stages.length}`);
      if (!next.stages.length) break;
      stages.push(...next.stages);
    }
    return { ...first, stages };
  }

  /** The stages of this pipeline's children, as the graph names them (`<stage id>/<child's>`). */
  async function childStages(stages) {
    if (!graph.nodes.some((n) => n.parent)) return [];
    const children = stages.filter((s) => s.kind === "pipeline" && s.child_pipeline_id);
    const read = await Promise.all(children.map(async (s) => {
      try {
        const child = await api("GET", `/pipelines/${encodeURIComponent(s.child_pipeline_id)}`);
        return child.stages.map((c) => ({ ...c, stage_id: `${s.stage_id}/${c.stage_id}` }));
      } catch { return []; } // not started yet
    }));
    return read.flat();
  }

  async function refresh() {
    const read = await readStatus();
    read.childStages = await childStages(read.stages);
    status = read;
    render();
  }

  function refreshSoon() {
    // Events come in bursts; one status read per burst is enough (fewer for big pipelines).
    const delay = status && status.stages.length > 1000 ? 2000 : 150;
    refreshing ||= setTimeout(() => { refreshing = null; refresh().catch((e) => showError(e)); }, delay);
  }

  function addEvent(event) {
    const p = event.data.payload || {};
    const detail = eventDetail(p);
    view.events.prepend(el("tr", { "data-type": event.type }, [
      el("td", {}, event.id), el("td", {}, when(event.data.timestamp)), el("td", {}, event.type),
      el("td", {}, p.stage_id || ""), el("td", {}, detail),
    ]));
    while (view.events.rows.length > MAX_EVENT_ROWS) view.events.lastElementChild.remove();
  }

  let following = false;
  async function follow() {
    if (following || aborter.signal.aborted) return;
    following = true;
    try {
      await followEvents(`${path}/events`, lastEventId, (message) => {
        if (message.type === "error") return showError(new ApiError(503, message.data), view.head);
        lastEventId = message.id;
        addEvent(message);
        refreshSoon();
      }, aborter.signal);
    } catch {
      if (aborter.signal.aborted) return;
    }
    following = false;
    // The stream broke, or ended with the pipeline held in FAILED (a retry, from here or from
    // anywhere else, resumes it): follow again from the last event seen.
    const expired = status.retryable_until && new Date(status.retryable_until) < new Date();
    if (!aborter.signal.aborted && !TERMINAL.has(status.state) && !expired) setTimeout(follow, 2000);
  }

  let hovered = null;
  function tooltipText(node) {
    const mine = stagesOf(node, allStages());
    // errors of stages failed now (a retried stage that succeeded keeps its last error)
    const errors = mine.filter((s) => s.error && s.state === "FAILED").slice(0, 3).map((s) => `${s.stage_id}: ${s.error.message}`);
    const state = nodeState(node, allStages());
    const hint = state === "FAILED" && !node.parent && can("operator") && status.state === "FAILED" ? ["click to retry"] : [];
    return [`${node.id} — ${state}`, `attempts: ${mine.reduce((n, s) => n + s.attempts, 0)}`, ...errors, ...hint].join("\n");
  }
  function hover(node, event) {
    hovered = node;
    if (!node) { tooltip.hidden = true; return; }
    tooltip.textContent = tooltipText(node);
    tooltip.style.left = `${event.clientX + 12}px`;
    tooltip.style.top = `${event.clientY + 12}px`;
    tooltip.hidden = false;
  }
  function refreshTooltip() {
    if (hovered && !tooltip.hidden) tooltip.textContent = tooltipText(hovered);
  }

  (async () => {
    try {
      [graph, status] = await Promise.all([api("GET", `${path}/graph`), readStatus()]);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        fill(main, el("h1", { id: "not-found" }, "Not found"), notice(error.message, "error"));
        return;
      }
      return showError(error);
    }
    cy = drawGraph(view.box, graph, { onSelect: (node) => { selected = node; detailsShown = null; renderDetails(); }, onHover: hover });
    window.consoleGraph = cy;
    status.childStages = await childStages(status.stages).catch(() => []);
    render();
    follow();
  })();
  return () => aborter.abort();
}
