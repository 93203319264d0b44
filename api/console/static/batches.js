// Batches and schedules: a tenant's batches with progress bars, one batch's failures with a
// redrive button, and the tenant's schedules with their next run times.
import { api, can, claims } from "./api.js";
import { badge, el, fill, notice, seconds, when } from "./dom.js";

const ENDED = ["SUCCEEDED", "FAILED", "CANCELLED"];
const REFRESH_MS = 2000;

function progress(batch) {
  const counts = batch.counts || {};
  const done = ENDED.reduce((n, s) => n + (counts[s] || 0), 0);
  const total = batch.total || 0;
  const bar = el("progress", { class: "batch-progress", max: total, value: done, title: `${done} of ${total}` });
  const parts = Object.entries(counts).sort().map(([s, n]) => el("span", { "data-count": s }, [badge(s), ` ${n}`]));
  return el("div", { class: "counts" }, [bar, ` ${done}/${total} `, ...parts]);
}

function tenantsOf() {
  return (claims().tenants || []).filter((t) => t !== "*");
}

/** `/ui/batches`: the batches of the caller's tenants, and their schedules. */
export function batchesPage(main, showError) {
  const rows = el("tbody", { id: "batches" });
  const schedules = el("tbody", { id: "schedules" });
  let timer = null;
  async function load() {
    try {
      const page = await api("GET", "/batches?page_size=50");
      const details = await Promise.all(page.items.map((b) => api("GET", `/batches/${encodeURIComponent(b.batch_id)}`)));
      fill(rows, ...details.map((b) => el("tr", { "data-batch": b.batch_id }, [
        el("td", {}, el("a", { href: `/ui/batches/${encodeURIComponent(b.batch_id)}` }, b.batch_id)),
        el("td", {}, b.tenant_id), el("td", {}, badge(b.state)), el("td", {}, progress(b)),
        el("td", {}, when(b.started_at)),
      ])));
      const found = await api("GET", "/schedules");
      fill(schedules, ...found.items.map((s) => el("tr", { "data-schedule": s.schedule_id }, [
        el("td", {}, s.schedule_id), el("td", {}, s.tenant_id),
        el("td", {}, s.cron ? `${s.cron}${s.timezone ? ` (${s.timezone})` : ""}` : `every ${s.interval_s} s`),
        el("td", {}, s.paused ? "paused" : "active"),
        el("td", { class: "next-run" }, s.next_run_times.length ? when(s.next_run_times[0]) : "—"),
        el("td", {}, String(s.runs)),
      ])));
    } catch (error) {
      showError(error);
    }
    timer = setTimeout(load, REFRESH_MS);
  }
  fill(main,
    el("h1", {}, "Batches"),
    el("p", { class: "muted" }, `Tenants: ${tenantsOf().join(", ") || "all"}. Submit with pipeline-engine batch submit inputs.jsonl --follow.`),
    el("table", {}, [el("thead", {}, el("tr", {}, ["Batch", "Tenant", "State", "Progress", "Started"].map((h) => el("th", {}, h)))), rows]),
    el("h2", {}, "Schedules"),
    el("table", {}, [el("thead", {}, el("tr", {}, ["Schedule", "Tenant", "When", "State", "Next run", "Runs"].map((h) => el("th", {}, h)))), schedules]),
  );
  load();
  return () => clearTimeout(timer);
}

/** `/ui/batches/{id}`: one batch, its failed pipelines, and a button that retries them all. */
export function batchPage(main, batchId, showError) {
  const head = el("div", { id: "batch-head" });
  const failures = el("tbody", { id: "failures" });
  const status = el("div", { id: "batch-notice" });
  const retry = el("button", { id: "retry-failed", class: "primary", disabled: !can("operator") }, "Retry failed");
  const path = `/batches/${encodeURIComponent(batchId)}`;
  let timer = null;
  retry.addEventListener("click", async () => {
    retry.disabled = true;
    try {
      const done = await api("POST", `${path}/retry-failed`, { reason: "redrive from the console" });
      fill(status, notice(`Retried ${done.retried_stages} stages of ${done.retried_pipelines} pipelines.`));
    } catch (error) {
      showError(error, status);
    }
    retry.disabled = !can("operator");
  });
  async function load() {
    try {
      const batch = await api("GET", path);
      fill(head,
        el("p", {}, [badge(batch.state), ` ${batch.tenant_id} · ${batch.pipeline} · max_running ${batch.max_running} · started ${when(batch.started_at)}`,
          batch.finished_at ? ` · took ${seconds(batch.started_at, batch.finished_at)}` : ""]),
        progress(batch));
      const failed = await api("GET", `${path}/pipelines?state=FAILED&page_size=100`);
      fill(failures, ...failed.items.map((p) => el("tr", { "data-index": p.index }, [
        el("td", {}, String(p.index)),
        el("td", {}, el("a", { href: `/ui/pipelines/${encodeURIComponent(p.pipeline_id)}` }, p.pipeline_id)),
        el("td", {}, badge(p.state)),
      ])));
      if (batch.state !== "RUNNING" && !failed.items.length) {
        clearTimeout(timer);
        return;
      }
    } catch (error) {
      showError(error);
    }
    timer = setTimeout(load, REFRESH_MS);
  }
  fill(main,
    el("p", {}, el("a", { href: "/ui/batches" }, "← Batches")),
    el("h1", {}, batchId), head, status,
    el("h2", {}, "Failed pipelines"),
    el("p", {}, [retry, " every failed stage of every failed pipeline, in one call"]),
    el("table", {}, [el("thead", {}, el("tr", {}, ["Input", "Pipeline", "State"].map((h) => el("th", {}, h)))), failures]),
  );
  load();
  return () => clearTimeout(timer);
}
