// Draws a graph from /v1/…/graph with Cytoscape.js (dagre layered layout) and paints stage states.
/* global cytoscape, cytoscapeDagre */
cytoscape.use(cytoscapeDagre);

const COLOURS = {
  PENDING: "#9e9e9e", RUNNING: "#1565c0", WAITING_INPUT: "#ef8f00", SUCCEEDED: "#2e7d32",
  FAILED: "#c62828", SKIPPED: "#bdbdbd", CANCELLED: "#57606a",
};
const DONE = new Set(["SUCCEEDED", "SKIPPED"]);

const STYLE = [
  {
    selector: "node",
    style: {
      shape: "round-rectangle", label: "data(label)", "text-wrap": "wrap", "text-valign": "center",
      "font-size": 12, color: "#fff", width: "label", height: "label", padding: "10px",
      "background-color": (n) => COLOURS[n.data("state")] || COLOURS.PENDING,
      "border-width": 0,
    },
  },
  { selector: "node[kind = 'input']", style: { shape: "hexagon", padding: "14px" } },
  { selector: "node[kind = 'switch']", style: { shape: "diamond", padding: "18px" } },
  {
    // a sub-pipeline: a box around its child's stages (double-click folds it to one node)
    selector: "node[kind = 'pipeline']",
    style: { "border-width": 2, "border-color": "#1f2328", "text-valign": "top", "text-margin-y": -4, color: "#1f2328" },
  },
  { selector: "node[kind = 'pipeline']:parent", style: { "background-opacity": 0.12 } },
  { selector: "node.folded", style: { "border-style": "double", "border-width": 4 } },
  {
    selector: "node[kind = 'group'], node[kind = 'map']",
    style: { shape: "barrel", "border-width": 3, "border-style": "double", "border-color": "#1f2328" },
  },
  { selector: "node.problem", style: { "border-width": 3, "border-color": "#c62828", "border-style": "dashed" } },
  { selector: "node:selected", style: { "overlay-opacity": 0.15, "overlay-color": "#000" } },
  // a diff of two versions (markDiff): what the other side does not have, or has otherwise
  { selector: "node.diff-added", style: { "background-color": "#2e7d32", "border-width": 3, "border-color": "#1b5e20" } },
  { selector: "node.diff-removed", style: { "background-color": "#c62828", "border-width": 3, "border-style": "dashed" } },
  { selector: "node.diff-changed", style: { "background-color": "#ef8f00", "border-width": 3, "border-color": "#8a5300" } },
  {
    selector: "edge",
    style: {
      width: 2, "line-color": "#8c959f", "target-arrow-color": "#8c959f",
      "target-arrow-shape": "triangle", "curve-style": "bezier",
    },
  },
];

/** The run index of a map run's stage (`<template id>[<i>]…`), else null. */
function runIndex(node, stageId) {
  for (const prefix of node.run_prefixes) {
    const match = stageId.startsWith(`${prefix}[`) && stageId.slice(prefix.length).match(/^\[(\d+)\]/);
    if (match) return Number(match[1]);
  }
  return null;
}

/** Which stages of a status a node stands for (its own, and a map's runs). */
export function stagesOf(node, stages) {
  const own = new Set(node.stages);
  return stages.filter((s) => own.has(s.stage_id) || runIndex(node, s.stage_id) !== null);
}

/** The units a fan-out counts: a group's stages, or a map's runs (all stages of run i). */
function units(node, stages) {
  if (node.kind !== "map") return stagesOf(node, stages).map((s) => [s.state]);
  const runs = new Map();
  for (const s of stages) {
    const i = runIndex(node, s.stage_id);
    if (i !== null) runs.set(i, [...(runs.get(i) || []), s.state]);
  }
  return [...runs.values()];
}

const unitDone = (states) => states.every((s) => DONE.has(s));

/** One state for a node: a fan-out is failed/running/waiting if any part is, done if all are. */
export function nodeState(node, stages) {
  const mine = stagesOf(node, stages);
  const states = mine.map((s) => s.state);
  if (["step", "input", "switch", "pipeline"].includes(node.kind)) return states[0] || "PENDING";
  for (const s of ["FAILED", "RUNNING", "WAITING_INPUT", "CANCELLED"]) if (states.includes(s)) return s;
  const own = stages.find((s) => s.stage_id === node.id); // a map's own stage, when it has one
  if (own && DONE.has(own.state)) return own.state;
  if (mine.length && units(node, stages).every(unitDone) && (!own || node.kind !== "map")) return "SUCCEEDED";
  return states.some((s) => DONE.has(s)) ? "RUNNING" : "PENDING";
}

/** "812/1,000 done": stages of a wide group, runs of a map ("?" before a map knows its list). */
export function fanOutCount(node, stages) {
  const all = units(node, stages);
  const done = all.filter(unitDone).length;
  const ended = stages.some((s) => s.stage_id === node.id && DONE.has(s.state));
  const total = node.kind === "map" ? all.length || (ended ? 0 : "?") : Math.max(all.length, node.stages.length);
  const fmt = (n) => (typeof n === "number" ? n.toLocaleString("en") : n);
  return `${fmt(done)}/${fmt(total)} done`;
}

function label(node, stages) {
  let text = node.label;
  if (node.step && node.step !== node.label) text += `\n(${node.step})`;
  if (node.kind === "input") text += "\n(human input)";
  if (node.kind === "pipeline") text += "\n(pipeline)";
  if (node.kind === "step" && stagesOf(node, stages).some((s) => s.cached)) text += "\n(cached)";
  if (node.kind === "switch") {
    const own = stages.find((s) => s.stage_id === node.id);
    text += own && own.branch !== null && own.branch !== undefined ? `\n(branch ${own.branch})` : "\n(switch)";
  }
  if (node.kind === "group" || node.kind === "map") text += `\n${fanOutCount(node, stages)}`;
  return text;
}

/** Draw `graph` into `container`; `onSelect(node)` on click, `onHover(node, event)` on hover. */
export function drawGraph(container, graph, { onSelect, onHover } = {}) {
  const cy = cytoscape({
    container,
    style: STYLE,
    elements: [
      ...graph.nodes.map((n) => ({
        data: { id: n.id, kind: n.kind, state: "PENDING", label: label(n, []), ...(n.parent ? { parent: n.parent } : {}) },
      })),
      ...graph.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.source, target: e.target } })),
    ],
    layout: { name: "dagre", rankDir: "LR", nodeSep: 25, rankSep: 70 },
    userZoomingEnabled: true,
    maxZoom: 1.6,
  });
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  if (onSelect) cy.on("tap", "node", (e) => onSelect(byId.get(e.target.id())));
  if (onHover) {
    cy.on("mouseover", "node", (e) => onHover(byId.get(e.target.id()), e.originalEvent));
    cy.on("mouseout", "node", () => onHover(null));
  }
  for (const p of graph.problems || []) if (p.node) cy.getElementById(p.node).addClass("problem");
  cy.on("dbltap", "node[kind = 'pipeline']", (e) => foldSubPipeline(e.target));
  // a sub-pipeline starts folded to one node (its stage's state); double-click shows its stages
  cy.nodes("[kind = 'pipeline']").forEach((n) => { if (n.isParent()) foldSubPipeline(n); });
  return cy;
}

/** Fold a sub-pipeline's box to one node, or unfold it (its child's stages show again). */
export function foldSubPipeline(node) {
  const inside = node.descendants();
  if (!inside.length && !node.hasClass("folded")) return;
  const folded = node.toggleClass("folded").hasClass("folded");
  const hidden = node.scratch("_folded") || node.descendants().union(node.descendants().connectedEdges());
  node.scratch("_folded", hidden);
  hidden.style("display", folded ? "none" : "element");
}

/** Colour each node by the state of the stages it stands for. */
export function paint(cy, graph, stages) {
  cy.batch(() => {
    for (const node of graph.nodes) {
      const el = cy.getElementById(node.id);
      el.data("state", nodeState(node, stages));
      el.data("label", label(node, stages));
    }
  });
}

/** Mark nodes of a version diff: `marks` maps a node id to "added", "removed" or "changed". */
export function markDiff(cy, marks) {
  for (const [id, kind] of Object.entries(marks)) cy.getElementById(id).addClass(`diff-${kind}`);
}
