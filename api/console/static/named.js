// A tenant's named pipelines: the list (latest version, aliases), one pipeline's versions, a
// side-by-side diff of two versions drawn on the graph, and (admins only) rollback and aliases.
import { api, can } from "./api.js";
import { el, fill, notice, when } from "./dom.js";
import { drawGraph, markDiff } from "./graph.js";

const enc = encodeURIComponent;

/** `crates v2` linking to the version's page (a run's `pipeline_ref`); null without one. */
export function refLink(tenantId, ref) {
  if (!ref || !tenantId) return null;
  const href = `/ui/tenants/${enc(tenantId)}/pipelines/${enc(ref.name)}?version=${ref.version}`;
  return el("a", { id: "pipeline-ref", href, title: `digest ${ref.digest}` }, `pipeline ${ref.name} v${ref.version}`);
}

function aliasText(a) {
  return `${a.alias} → v${a.version}${a.canary_version != null ? ` (canary v${a.canary_version} at ${a.canary_percent}%)` : ""}`;
}

/** `/ui/tenants/{t}/pipelines`: the tenant's named pipelines. */
export function namedPipelinesPage(main, tenantId, showError) {
  const rows = el("tbody", { id: "named" });
  fill(main,
    el("p", {}, el("a", { href: `/ui/tenants/${enc(tenantId)}` }, `← Config of ${tenantId}`)),
    el("h1", {}, `Pipelines of ${tenantId}`),
    el("table", {}, [el("thead", {}, el("tr", {}, ["Name", "Latest", "Aliases", "Updated", ""].map((h) => el("th", {}, h)))), rows]),
    el("p", { class: "muted" }, "Push a version with pipeline-engine pipelines push NAME FILE --tenant T."),
  );
  api("GET", `/tenants/${enc(tenantId)}/pipelines`).then((found) => {
    fill(rows, ...found.items.map((p) => el("tr", { "data-name": p.name }, [
      el("td", {}, el("a", { href: `/ui/tenants/${enc(tenantId)}/pipelines/${enc(p.name)}` }, p.name)),
      el("td", { class: "latest" }, `v${p.latest_version}`),
      el("td", { class: "aliases" }, Object.values(p.aliases).map(aliasText).join(", ")),
      el("td", {}, when(p.updated_at)),
      el("td", {}, p.archived ? "archived" : ""),
    ])));
    if (!found.items.length) rows.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No named pipelines yet.")));
  }).catch((error) => showError(error));
}

/** The config a version's document stands for (a DSL tree goes in a config named after it). */
function configOf(stored) {
  return stored.config ? stored.config : { schema_version: stored.schema_version, name: stored.name, definition: stored.pipeline_definition };
}

/** The value at a graph node's JSON path (`$.definition.steps[1]`) in `doc`. */
export function atPath(doc, path) {
  let value = doc;
  for (const [, key, index, quoted] of path.matchAll(/\.([A-Za-z_][\w-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g)) {
    if (value == null) return undefined;
    value = value[key ?? (index !== undefined ? Number(index) : JSON.parse(`"${quoted}"`))];
  }
  return value;
}

const canonical = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
  ? Object.fromEntries(Object.keys(x).sort().map((key) => [key, x[key]])) : x));

/** Each node of each side as added, removed or changed (by node id, comparing its element). */
export function diffMarks(oldGraph, oldConfig, newGraph, newConfig) {
  const olds = new Map(oldGraph.nodes.map((n) => [n.id, n]));
  const news = new Map(newGraph.nodes.map((n) => [n.id, n]));
  const before = {};
  const after = {};
  for (const id of olds.keys()) if (!news.has(id)) before[id] = "removed";
  for (const [id, n] of news) {
    const old = olds.get(id);
    if (!old) after[id] = "added";
    else if (old.kind !== n.kind || canonical(atPath(oldConfig, old.path)) !== canonical(atPath(newConfig, n.path))) {
      before[id] = "changed";
      after[id] = "changed";
    }
  }
  return { before, after };
}

function versionOptions(versions, selected) {
  return versions.map((v) => el("option", { value: v.version, selected: v.version === selected }, `v${v.version}`));
}

/** `/ui/tenants/{t}/pipelines/{name}[?version=N]`: versions, a diff on the graph, admin actions. */
export function namedPipelinePage(main, tenantId, name, showError) {
  const base = `/tenants/${enc(tenantId)}/pipelines/${enc(name)}`;
  const head = el("div", { id: "named-head" });
  const rows = el("tbody", { id: "versions" });
  const from = el("select", { id: "diff-from" });
  const to = el("select", { id: "diff-to" });
  const left = el("div", { id: "graph-from", class: "diff-graph" });
  const right = el("div", { id: "graph-to", class: "diff-graph" });
  const patch = el("ul", { id: "patch", class: "patch" });
  const status = el("div", { id: "named-notice" });
  const actions = el("div", { id: "named-actions" });
  const graphs = [];
  let versions = [];

  async function compare() {
    fill(status);
    try {
      const [a, b] = await Promise.all([api("GET", `${base}?version=${from.value}`), api("GET", `${base}?version=${to.value}`)]);
      const [ca, cb] = [configOf(a), configOf(b)];
      const [ga, gb, ops] = await Promise.all([
        api("POST", "/graph", { config: ca }), api("POST", "/graph", { config: cb }),
        api("GET", `${base}/diff?from=${a.version}&to=${b.version}`),
      ]);
      while (graphs.length) graphs.pop().destroy();
      const marks = diffMarks(ga, ca, gb, cb);
      graphs.push(drawGraph(left, ga), drawGraph(right, gb));
      markDiff(graphs[0], marks.before);
      markDiff(graphs[1], marks.after);
      window.consoleDiff = { before: marks.before, after: marks.after, graphs };
      fill(patch, ...(ops.length ? ops.map((op) => el("li", { class: `op-${op.op}` },
        `${op.op} ${op.path}${op.from ? ` from ${op.from}` : ""}${"value" in op ? ` ${JSON.stringify(op.value)}` : ""}`))
        : [el("li", { class: "muted" }, "The two versions are equal.")]));
    } catch (error) {
      showError(error, status);
    }
  }

  function adminForms(latest) {
    if (!can("admin")) return el("p", { class: "muted", id: "read-only" }, "Rollback and aliases: admins only.");
    const target = el("select", { id: "rollback-to" }, versionOptions(versions, versions[1]?.version ?? latest));
    const why = el("input", { id: "rollback-message", placeholder: "why" });
    const rollback = el("form", { class: "row", id: "rollback" }, [el("strong", {}, "Roll back to"), target, why,
      el("button", { class: "danger", type: "submit" }, "Roll back")]);
    rollback.addEventListener("submit", (e) => {
      e.preventDefault();
      write("POST", `${base}/rollback`, { to: Number(target.value), message: why.value || null },
        (v) => `version ${v.version} written, equal to version ${target.value}`);
    });
    const alias = el("input", { id: "alias-name", value: "live", size: 8 });
    const version = el("select", { id: "alias-version" }, versionOptions(versions, latest));
    const canary = el("select", { id: "alias-canary" }, [el("option", { value: "" }, "no canary"), ...versionOptions(versions, null)]);
    const percent = el("input", { id: "alias-percent", type: "number", min: 0, max: 100, step: "any", size: 4, placeholder: "%" });
    const point = el("form", { class: "row", id: "alias" }, [el("strong", {}, "Point alias"), alias, "at", version, canary, percent,
      el("button", { class: "primary", type: "submit" }, "Set alias")]);
    point.addEventListener("submit", (e) => {
      e.preventDefault();
      const body = { version: Number(version.value) };
      if (canary.value) Object.assign(body, { canary_version: Number(canary.value), canary_percent: Number(percent.value || 0) });
      write("PUT", `${base}/aliases/${enc(alias.value.trim())}`, body, (a) => `alias ${aliasText(a)}`);
    });
    return el("div", { class: "card" }, [rollback, point]);
  }

  async function write(method, path, body, said) {
    fill(status);
    try {
      const answer = await api(method, path, body);
      await load();
      fill(status, notice(said(answer)));
    } catch (error) {
      showError(error, status);
    }
  }

  async function load() {
    const [page, list] = await Promise.all([api("GET", `${base}/versions?page_size=1000`), api("GET", `/tenants/${enc(tenantId)}/pipelines`)]);
    versions = page.items;
    const me = list.items.find((p) => p.name === name);
    const latest = versions.length ? versions[0].version : 1;
    fill(head,
      el("h1", {}, [`${name} `, el("span", { class: "muted" }, `v${latest}`), me && me.archived ? el("span", { class: "badge" }, "archived") : null]),
      el("p", { id: "named-aliases" }, me && Object.keys(me.aliases).length ? Object.values(me.aliases).map(aliasText).join(" · ") : "No aliases."));
    fill(rows, ...versions.map((v) => el("tr", { "data-version": v.version }, [
      el("td", {}, `v${v.version}`), el("td", {}, when(v.created_at)), el("td", { class: "who" }, v.created_by || ""),
      el("td", { class: "message" }, v.message || ""), el("td", { class: "digest", title: v.digest }, v.digest.slice(0, 12)),
    ])));
    // ?version=N (a run's version): N against the one before it; else the latest two
    const wanted = Number(new URLSearchParams(location.search).get("version")) || latest;
    fill(from, ...versionOptions(versions, versions.find((v) => v.version < wanted)?.version ?? wanted));
    fill(to, ...versionOptions(versions, wanted));
    fill(actions, me && me.archived ? null : adminForms(latest));
    await compare();
  }

  fill(main,
    el("p", {}, el("a", { href: `/ui/tenants/${enc(tenantId)}/pipelines` }, `← Pipelines of ${tenantId}`)),
    head, status, actions,
    el("h2", {}, "Versions"),
    el("table", {}, [el("thead", {}, el("tr", {}, ["Version", "When", "Who", "Message", "Digest"].map((h) => el("th", {}, h)))), rows]),
    el("h2", {}, "Compare"),
    el("div", { class: "row" }, [from, "→", to, el("button", { id: "compare", onclick: compare }, "Compare"),
      el("span", { class: "legend" }, [el("span", { class: "diff-added" }, "added"), el("span", { class: "diff-removed" }, "removed"), el("span", { class: "diff-changed" }, "changed")])]),
    el("div", { class: "diff" }, [left, right]),
    patch,
  );
  load().catch((error) => showError(error));
}
