// The console's entry: token handling, the header, and one page per address.
import { ApiError, api, can, claims, setToken, signOut, takeTokenFromFragment, token } from "./api.js";
import { badge, el, fill, notice, when } from "./dom.js";
import { drawGraph } from "./graph.js";
import { pipelinePage } from "./pipeline.js";
import { batchPage, batchesPage } from "./batches.js";
import { namedPipelinePage, namedPipelinesPage } from "./named.js";

const main = document.getElementById("main");
const STATES = ["PENDING", "RUNNING", "WAITING_INPUT", "FAILED", "SUCCEEDED", "CANCELLED"];
let stopPage = () => {};

export function showError(error, where = main) {
  if (error instanceof ApiError && error.status === 401) {
    stopPage(); // no more refreshes with a token the API refused
    signOut();
    return loginPage(error.message);
  }
  const text = error instanceof ApiError ? `${error.status}: ${error.message}` : String(error);
  const problems = error instanceof ApiError && Array.isArray(error.body.details)
    ? error.body.details.filter((d) => d && d.message).map((d) => el("li", {}, d.path ? `${d.path}: ${d.message}` : d.message))
    : [];
  for (const old of where.querySelectorAll(":scope > .notice.error")) old.remove(); // one at a time
  const box = notice(text, "error");
  if (problems.length) box.append(el("ul", { class: "problems" }, problems));
  where.prepend(box);
}

function loginPage(message) {
  const input = el("textarea", { id: "token", rows: 4, placeholder: "eyJhbGciOi…" });
  const form = el("form", { class: "card", id: "login" }, [
    el("h1", {}, "Sign in"),
    el("p", { class: "muted" }, "Paste a bearer token (pipeline-engine token …); the console calls the API with it."),
    message ? notice(message, "error") : null,
    input,
    el("p", {}, el("button", { class: "primary", type: "submit" }, "Sign in")),
  ]);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setToken(input.value);
    route();
  });
  fill(main, form);
}

function header() {
  const who = claims();
  document.getElementById("who").textContent =
    `${who.sub} · ${(who.roles || []).join(", ")} · tenants ${(who.tenants || []).join(", ")}`;
  const tenants = (who.tenants || []).filter((t) => t !== "*");
  fill(document.getElementById("nav"),
    el("a", { href: "/ui" }, "Pipelines"),
    el("a", { href: "/ui/batches", id: "nav-batches" }, "Batches"),
    ...tenants.map((t) => el("a", { href: `/ui/tenants/${encodeURIComponent(t)}` }, `${t} config`)),
    ...tenants.map((t) => el("a", { href: `/ui/tenants/${encodeURIComponent(t)}/pipelines` }, `${t} pipelines`)),
    (who.tenants || []).includes("*") ? tenantLookup() : null,
    el("a", { href: "/docs" }, "API docs"),
    el("a", { href: "#", id: "sign-out", onclick: (e) => { e.preventDefault(); signOut(); route(); } }, "Sign out"),
  );
}

function tenantLookup() {
  const input = el("input", { id: "tenant-lookup", placeholder: "tenant config…", size: 14 });
  const form = el("form", {}, input);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (input.value) location.assign(`/ui/tenants/${encodeURIComponent(input.value.trim())}`);
  });
  return form;
}

function listPage() {
  const params = new URLSearchParams(location.search);
  const tenant = el("input", { id: "f-tenant", placeholder: "tenant", value: params.get("tenant_id") || "" });
  const state = el("select", { id: "f-state" }, [el("option", { value: "" }, "any state"), ...STATES.map((s) => el("option", { value: s, selected: params.get("state") === s }, s))]);
  const name = el("input", { id: "f-name", placeholder: "name starts with", value: params.get("name") || "" });
  const stored = el("input", { id: "f-pipeline", placeholder: "stored pipeline", size: 12, value: params.get("pipeline") || "" });
  const version = el("input", { id: "f-version", type: "number", min: 1, placeholder: "version", size: 6, value: params.get("version") || "" });
  const after = el("input", { id: "f-after", type: "datetime-local", title: "started after", value: params.get("started_after") || "" });
  const afterLabel = el("label", { for: "f-after", class: "muted" }, ["Started after ", after]);
  const counts = el("div", { class: "counts", id: "counts" });
  const rows = el("tbody", { id: "pipelines" });
  const pager = el("div", { class: "row" });
  const tokens = [null];
  let page = 0;

  function filters() {
    const q = new URLSearchParams();
    if (tenant.value) q.set("tenant_id", tenant.value);
    if (name.value) q.set("name", name.value);
    if (stored.value) q.set("pipeline", stored.value.trim());
    if (version.value) q.set("version", version.value);
    if (after.value) q.set("started_after", new Date(after.value).toISOString());
    return q;
  }

  async function load() {
    const q = filters();
    q.set("page_size", "20");
    if (state.value) q.set("state", state.value);
    if (tokens[page]) q.set("page_token", tokens[page]);
    try {
      const [data, total] = await Promise.all([api("GET", `/pipelines?${q}`), api("GET", `/pipeline-counts?${filters()}`)]);
      tokens[page + 1] = data.next_page_token;
      fill(counts, el("span", {}, `${total.total} pipeline(s):`), ...STATES.filter((s) => total.by_state[s]).map((s) => el("a", {
        href: "#", "data-count": s, onclick: (e) => { e.preventDefault(); state.value = s; apply(); },
      }, [badge(s), ` ${total.by_state[s]}`])));
      fill(rows, ...data.items.map((p) => el("tr", { "data-pipeline": p.pipeline_id }, [
        el("td", {}, el("a", { href: `/ui/pipelines/${encodeURIComponent(p.pipeline_id)}` }, p.pipeline_id)),
        el("td", {}, p.name || ""), el("td", { class: "version" }, p.pipeline_version ? `v${p.pipeline_version}` : ""),
        el("td", {}, p.tenant_id || ""), el("td", {}, badge(p.state)),
        el("td", {}, when(p.started_at)), el("td", {}, when(p.closed_at)),
      ])));
      fill(pager,
        el("button", { disabled: page === 0, onclick: () => { page -= 1; load(); } }, "← Newer"),
        el("span", { class: "muted" }, `page ${page + 1}`),
        el("button", { disabled: !data.next_page_token, onclick: () => { page += 1; load(); } }, "Older →"),
      );
    } catch (error) {
      showError(error);
    }
  }
  const apply = () => { tokens.length = 1; page = 0; load(); };
  for (const input of [tenant, state, name, stored, version, after]) input.addEventListener("change", apply);

  const runForm = can("operator") ? runCard() : null;
  fill(main,
    el("h1", {}, "Pipelines"),
    runForm,
    el("div", { class: "card row" }, [tenant, state, name, stored, version, afterLabel, el("button", { onclick: apply }, "Filter")]),
    counts,
    el("table", {}, [el("thead", {}, el("tr", {}, ["Pipeline", "Name", "Version", "Tenant", "State", "Started", "Closed"].map((h) => el("th", {}, h)))), rows]),
    pager,
  );
  load();
  const timer = setInterval(load, 3000); // live: the visibility store is the source of truth
  return () => clearInterval(timer);
}

function runCard() {
  const tenants = (claims().tenants || []).filter((t) => t !== "*");
  const tenant = el("input", { id: "run-tenant", placeholder: "tenant", value: tenants[0] || "" });
  const input = el("input", { id: "run-input", value: "{}", size: 40, title: "pipeline input (JSON)" });
  const form = el("form", { class: "card row", id: "run" }, [
    el("strong", {}, "Run a tenant's stored pipeline"), tenant, input,
    el("button", { class: "primary", type: "submit" }, "Run"),
  ]);
  const status = el("div", { id: "run-status" });
  const open = (id) => location.assign(`/ui/pipelines/${encodeURIComponent(id)}`);
  async function run(key) {
    fill(status); // one answer at a time: the previous error or notice goes
    try {
      const body = { tenant_id: tenant.value, input: JSON.parse(input.value) };
      if (key) body.idempotency_key = key;
      const ref = await api("POST", "/process", body);
      if (ref.reused) await sameRun(ref);
      else open(ref.pipeline_id);
    } catch (error) {
      showError(error, status);
    }
  }
  async function sameRun(ref) {
    // the same tenant and input made this pipeline before: say so, and offer both ways on
    let since = "";
    try {
      const found = await api("GET", `/pipelines/${encodeURIComponent(ref.pipeline_id)}?stage_limit=1`);
      since = `, ${when(found.created_at || found.started_at)}`;
    } catch {
      since = "";
    }
    fill(status, el("div", { class: "notice", role: "status", id: "run-reused" }, [
      `An identical run exists (${ref.state}${since}): `,
      el("a", { href: `/ui/pipelines/${encodeURIComponent(ref.pipeline_id)}`, id: "run-open" }, "open it"),
      ", or ",
      el("button", { type: "button", id: "run-again", onclick: () => run(freshKey()) }, "run again"),
    ]));
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run(null);
  });
  return el("div", {}, [form, status]);
}

function freshKey() {
  return `console-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

async function tenantPage(tenantId) {
  const title = el("h1", {}, `Config of ${tenantId}`);
  const box = el("div", { id: "graph" });
  const problems = el("ul", { class: "problems", id: "problems" });
  const problemsHeading = el("h2", { id: "problems-heading", hidden: true }, "Problems");
  const source = el("textarea", { id: "definition", rows: 18, readonly: !can("admin") });
  const status = el("div");
  let row;
  let cy;
  function draw(graph) {
    if (cy) cy.destroy();
    cy = drawGraph(box, graph);
    window.consoleGraph = cy;
    fill(problems, ...graph.problems.map((p) => el("li", { "data-node": p.node || "" }, `${p.node ? `${p.node}: ` : ""}${p.path} — ${p.message}`)));
    problemsHeading.hidden = graph.problems.length === 0; // no heading over an empty list
  }
  async function check() {
    fill(status);
    try {
      const definition = JSON.parse(source.value);
      draw(await api("POST", "/graph", { config: { schema_version: "1", name: tenantId, definition } }));
    } catch (error) {
      showError(error, status);
    }
  }
  async function save() {
    fill(status);
    try {
      row = await api("PUT", `/tenants/${encodeURIComponent(tenantId)}/config`, {
        pipeline_definition: JSON.parse(source.value), settings: row ? row.settings : {}, version: row ? row.version : null,
        priority: row ? row.priority : null, fairness_weight: row ? row.fairness_weight : null,
      });
      fill(status, notice(`saved as version ${row.version}`));
      await check();
    } catch (error) {
      showError(error, status);
      await check();
    }
  }
  const actions = can("admin")
    ? el("div", { class: "row" }, [el("button", { onclick: check }, "Check"), el("button", { class: "primary", id: "save", onclick: save }, "Save")])
    : el("p", { class: "muted" }, "Read-only: only an admin edits tenant configs.");
  const named = el("p", {}, el("a", { id: "named-link", href: `/ui/tenants/${encodeURIComponent(tenantId)}/pipelines` }, "Named pipelines and their versions →"));
  fill(main, title, named, el("div", { class: "layout" }, [
    el("div", {}, [box, problemsHeading, problems]),
    el("div", { class: "card" }, [el("h2", {}, "Definition"), source, actions, status]),
  ]));
  try {
    row = await api("GET", `/tenants/${encodeURIComponent(tenantId)}/config`);
    source.value = JSON.stringify(row.pipeline_definition, null, 2);
    draw(await api("GET", `/tenants/${encodeURIComponent(tenantId)}/config/graph`));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      fill(main, el("h1", { id: "not-found" }, "Not found"), notice(error.message, "error"));
    } else showError(error);
  }
}

function route() {
  stopPage();
  stopPage = () => {};
  takeTokenFromFragment();
  if (!token()) return loginPage();
  header();
  const path = location.pathname.replace(/\/+$/, "");
  const pipeline = path.match(/^\/ui\/pipelines\/(.+)$/);
  const named = path.match(/^\/ui\/tenants\/([^/]+)\/pipelines(?:\/([^/]+))?$/);
  const tenant = path.match(/^\/ui\/tenants\/(.+)$/);
  const batch = path.match(/^\/ui\/batches\/(.+)$/);
  if (batch) stopPage = batchPage(main, decodeURIComponent(batch[1]), showError);
  else if (path === "/ui/batches") stopPage = batchesPage(main, showError);
  else if (pipeline) stopPage = pipelinePage(main, decodeURIComponent(pipeline[1]), showError);
  else if (named && named[2]) namedPipelinePage(main, decodeURIComponent(named[1]), decodeURIComponent(named[2]), showError);
  else if (named) namedPipelinesPage(main, decodeURIComponent(named[1]), showError);
  else if (tenant) tenantPage(decodeURIComponent(tenant[1]));
  else stopPage = listPage();
}

window.addEventListener("hashchange", route);
route();
