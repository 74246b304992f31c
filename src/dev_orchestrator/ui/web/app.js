// The web dashboard: one event stream (/api/events) in, POST /api/<action> out.
// No framework, no build step. Log text is untrusted: it only ever becomes textContent.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const LOG_LIMIT = 20000; // lines kept in the page (the files keep everything)
const SHOWN_LIMIT = 3000; // rows drawn at once (the newest)
const $ = (id) => document.getElementById(id);

const view = {
  status: null, lines: [], only: "", search: "", filter: null, pretty: false, times: true, follow: true,
  hit: -1, hits: [], dirtyLogs: true, graph: null, waterfall: null,
  pending: [], total: 0, logKey: "", resetLogs: false, colors: "",
};

// -- helpers (the same rules as the terminal view: ui/rows.py, ui/logmodel.py) -----------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function age(iso, now) {
  if (!iso) return "-";
  const began = Date.parse(iso);
  if (Number.isNaN(began)) return "-";
  const up = Math.max(0, (now - began) / 1000);
  if (up < 60) return `${Math.floor(up)}s`;
  if (up < 3600) return `${Math.floor(up / 60)}m`;
  return `${Math.floor(up / 3600)}h${String(Math.floor((up % 3600) / 60)).padStart(2, "0")}m`;
}

function memory(value) {
  if (value === null || value === undefined) return "-";
  return value < 1e9 ? `${(value / 1e6).toFixed(0)} MB` : `${(value / 1e9).toFixed(1)} GB`;
}

function foldCase(pattern) { return pattern === pattern.toLowerCase(); }

function matches(text, pattern) {
  return foldCase(pattern) ? text.toLowerCase().includes(pattern.toLowerCase()) : text.includes(pattern);
}

function spans(text, pattern) {
  if (!pattern) return [];
  const fold = foldCase(pattern);
  const hay = fold ? text.toLowerCase() : text;
  const needle = fold ? pattern.toLowerCase() : pattern;
  const out = [];
  let at = hay.indexOf(needle);
  while (at >= 0) { out.push([at, at + needle.length]); at = hay.indexOf(needle, at + needle.length); }
  return out;
}

function parseFilter(text) {
  text = text.trim();
  let context = 0;
  const m = text.match(/^(.*\S)\s\+(\d+)$/);
  if (m) { text = m[1].trim(); context = Math.min(parseInt(m[2], 10), 1000); }
  const exclude = text.startsWith("!");
  if (exclude) text = text.slice(1);
  if (!text) return null;
  return { pattern: text, exclude, context: exclude ? 0 : context };
}

function prettyJson(text) {
  const starts = [text.indexOf("{"), text.indexOf("[")].filter((i) => i >= 0);
  if (!starts.length) return null;
  const start = Math.min(...starts);
  let value;
  try { value = JSON.parse(text.slice(start)); } catch (_e) { return null; }
  if (value === null || typeof value !== "object") return null;
  const head = text.slice(0, start).trimEnd();
  return (head ? [head] : []).concat(JSON.stringify(value, null, 2).split("\n"));
}

// -- the service table ----------------------------------------------------------------------

function serviceRows(status) {
  const services = status.services || {};
  const order = (status.order || []).filter((n) => n in services);
  for (const n of Object.keys(services)) if (!order.includes(n)) order.push(n);
  const rows = [];
  for (const name of order) {
    const record = services[name];
    rows.push({ key: name, service: name, replica: null, record, usage: true });
    for (const rep of record.replicas || []) {
      if (rep.replica === 1) continue;
      rows.push({ key: `${name}#${rep.replica}`, service: name, replica: rep.replica,
                  record: Object.assign({}, record, rep), usage: false });
    }
  }
  return rows;
}

function marks(record) {
  const out = [];
  if ((record.drift || []).length) out.push("changed: " + record.drift.join(","));
  if (record.watch) out.push("watching");
  return out.join("  ") || "-";
}

function setCell(td, text) {
  if (td.textContent !== text) td.textContent = text;
}

function newRow(row) {
  // Cells are made once and updated in place, so that a row under the pointer (or a
  // selection in it) survives the status that arrives every second.
  const tr = el("tr", { "data-service": row.key, class: row.replica === null ? "" : "replica" });
  for (let i = 0; i < 11; i++) tr.append(el("td", {}));
  tr.cells[0].className = "name";
  const actions = el("td", { class: "actions" });
  if (row.replica === null) {
    for (const [action, label] of [["start", "Start"], ["stop", "Stop"], ["restart", "Restart"]]) {
      actions.append(el("button", { type: "button", "data-action": action, "data-service": row.service }, label));
    }
  }
  tr.append(actions);
  return tr;
}

function drawTable() {
  const status = view.status;
  const body = document.querySelector("#services tbody");
  if (!status) return;
  const now = Date.now();
  const existing = new Map(Array.from(body.rows).map((tr) => [tr.dataset.service, tr]));
  const wanted = [];
  for (const row of serviceRows(status)) {
    const r = row.record;
    const state = r.state || "stopped";
    const health = r.health && r.health !== "none" ? r.health : "-";
    const running = state === "running" || state === "starting";
    const ident = r.pid ? String(r.pid) : (r.container ? String(r.container).slice(0, 12) : "-");
    const tr = existing.get(row.key) || newRow(row);
    const c = tr.cells;
    tr.dataset.state = state;
    tr.dataset.health = health;
    tr.dataset.pid = r.pid ? String(r.pid) : "";
    tr.title = r.detail && state !== "running" ? r.detail : "";
    setCell(c[0], row.key);
    setCell(c[1], r.runtime || "process");
    setCell(c[2], state);
    c[2].className = `state state-${state}`;
    setCell(c[3], health);
    c[3].className = `health-${health}`;
    setCell(c[4], ident);
    setCell(c[5], running ? age(r.started_at, now) : "-");
    setCell(c[6], String(r.restarts || 0));
    const urls = (r.ports || []).map((p) => `http://127.0.0.1:${p}`);
    if (c[7].dataset.urls !== urls.join(" ")) {
      c[7].dataset.urls = urls.join(" ");
      c[7].replaceChildren(...(urls.length ? urls.flatMap((u) => [
        el("a", { href: u, target: "_blank", rel: "noopener noreferrer" }, u), " "]) : ["-"]));
    }
    setCell(c[8], row.usage && typeof r.cpu_percent === "number" ? `${r.cpu_percent.toFixed(1)}%` : "-");
    setCell(c[9], row.usage ? memory(r.rss_bytes) : "-");
    setCell(c[10], row.usage ? marks(r) : "-");
    for (const b of c[11].querySelectorAll("button")) {
      b.disabled = (b.dataset.action === "start" && running) || (b.dataset.action === "stop" && !running);
    }
    wanted.push(tr);
  }
  const keep = new Set(wanted);
  for (const tr of Array.from(body.rows)) if (!keep.has(tr)) tr.remove();
  wanted.forEach((tr, i) => { if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] || null); });
  const sup = status.supervisor || {};
  const all = Object.values(status.services || {});
  const up = all.filter((r) => r.state === "running" || r.state === "starting").length;
  let head = `${status.project || "?"} · env ${status.env || "?"}`;
  if (sup.pid) head += ` · supervisor pid ${sup.pid} · up ${age(sup.started_at, now)}`;
  head += ` · ${up}/${all.length} running`;
  if (all.some((r) => (r.drift || []).length)) head += " · the files changed: Apply plan applies them";
  $("headline").textContent = head;
  document.title = `${status.project || "stack"} · dev-orchestrator`;
  const select = $("log-service");
  const names = Object.keys(status.services || {});
  const have = Array.from(select.options).map((o) => o.value);
  for (const n of names) if (!have.includes(n)) select.append(el("option", { value: n }, n));
}

// -- actions --------------------------------------------------------------------------------

function say(text, error) {
  const m = $("message");
  m.textContent = text;
  m.className = error ? "error" : "";
}

async function post(action, body) {
  const reply = await fetch(`/api/${action}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  const data = await reply.json().catch(() => ({ ok: false, message: `HTTP ${reply.status}` }));
  if (!reply.ok || data.type === "error") throw new Error(data.message || `HTTP ${reply.status}`);
  return data;
}

async function act(action, service) {
  if (action === "stop" && !window.confirm(`Stop ${service}?`)) return;
  const verb = { start: "starting", stop: "stopping", restart: "restarting" }[action];
  say(`${verb} ${service}…`);
  try {
    const result = await post(action, { services: [service] });
    if (result.ok === false) say(`${action} ${service} failed: ${result.reason || result.failed || ""}`, true);
    else say(`${{ start: "started", stop: "stopped", restart: "restarted" }[action]} ${service}`);
  } catch (e) {
    say(`${action} ${service}: ${e.message}`, true);
  }
}

function planText(plan) {
  const lines = [];
  const unchanged = [];
  for (const step of plan.steps || []) {
    if (step.action === "keep") { unchanged.push(step.service); continue; }
    lines.push(`${step.service.padEnd(14)} ${step.action.padEnd(9)} ${(step.reasons || []).join("; ")}`);
  }
  if (unchanged.length) lines.push(`${unchanged.join(", ")}: unchanged`);
  for (const w of plan.warnings || []) lines.push(`warning: ${w}`);
  return lines.join("\n") || "nothing to change";
}

async function showPlan() {
  try {
    const reply = await post("apply", { dry_run: true });
    $("plan-text").textContent = planText(reply.plan || {});
    $("plan-dialog").showModal();
  } catch (e) {
    say(`plan: ${e.message}`, true);
  }
}

async function applyPlan() {
  $("plan-dialog").close();
  say("applying the plan…");
  try {
    const result = await post("apply", {});
    const changed = (result.restarted || []).length;
    if (result.ok === false) say(`apply failed: ${result.reason || result.failed || ""}`, true);
    else say(changed ? `applied ${changed} change(s)` : "applied: nothing to change");
  } catch (e) {
    say(`apply: ${e.message}`, true);
  }
}

// -- pictures -------------------------------------------------------------------------------

function stateOf(name) {
  const record = view.status && (view.status.services || {})[name];
  return record ? record.state : "stopped";
}

function drawGraph() {
  const g = view.graph;
  const svg = $("graph");
  if (!g) return;
  const key = JSON.stringify(g);
  if (svg.dataset.key === key) { // the same picture: only the colours move
    for (const group of svg.querySelectorAll("g.node")) {
      const state = stateOf(group.dataset.service);
      if (group.dataset.state === state) continue;
      group.dataset.state = state;
      group.setAttribute("class", `node state-${state}`);
      group.querySelector("title").textContent = `${group.dataset.service}: ${state}`;
      group.querySelector("text.sub").textContent = state;
    }
    return;
  }
  svg.dataset.key = key;
  svg.setAttribute("width", g.width);
  svg.setAttribute("height", g.height);
  svg.setAttribute("viewBox", `0 0 ${g.width} ${g.height}`);
  const defs = svgEl("defs");
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7,
                                   markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(svgEl("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }));
  defs.append(marker);
  const parts = [defs];
  const at = Object.fromEntries(g.nodes.map((n) => [n.name, n]));
  for (const e of g.edges) {
    const a = at[e.from], b = at[e.to];
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2, mid = (x1 + x2) / 2;
    parts.push(svgEl("path", { class: "edge", d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`,
                               "marker-end": "url(#arrow)" }));
  }
  for (const n of g.nodes) {
    const state = stateOf(n.name);
    const group = svgEl("g", { class: `node state-${state}`, "data-service": n.name, "data-state": state });
    group.append(svgEl("title", {}, `${n.name}: ${state}`));
    group.append(svgEl("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 6 }));
    group.append(svgEl("text", { x: n.x + 10, y: n.y + 15 }, n.name));
    group.append(svgEl("text", { x: n.x + 10, y: n.y + 29, class: "sub" }, state));
    parts.push(group);
  }
  svg.replaceChildren(...parts);
}

function drawWaterfall() {
  const w = view.waterfall;
  const svg = $("waterfall");
  if (!w) return;
  const growing = (w.bars || []).some((b) => b.ended === null);
  if (svg.dataset.version === String(w.version) && !growing) return;
  svg.dataset.version = String(w.version);
  const bars = w.bars || [];
  const label = 130, width = 460, rowH = 22, top = 20;
  const now = w.began ? Date.now() / 1000 - w.began : 0;
  const end = (b) => (b.ended === null ? Math.max(now, b.launched) : b.ended);
  const span = Math.max(0.001, ...bars.map(end));
  const scale = (t) => label + (t / span) * width;
  const height = top + bars.length * rowH + 8;
  svg.setAttribute("width", label + width + 70);
  svg.setAttribute("height", Math.max(height, 40));
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const t = (span * i) / 4;
    parts.push(svgEl("line", { class: "axis", x1: scale(t), x2: scale(t), y1: top - 4, y2: height - 4 }));
    parts.push(svgEl("text", { class: "tick", x: scale(t) - 8, y: 12 }, `${t.toFixed(span < 2 ? 2 : 1)}s`));
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const group = svgEl("g", { class: "bar", "data-service": b.service, "data-outcome": b.outcome });
    const took = end(b) - b.launched;
    group.append(svgEl("title", {}, `${b.service}: ${b.outcome} ${took.toFixed(2)}s after launch` +
      (b.spawned !== null ? ` (spawned at +${(b.spawned - b.launched).toFixed(2)}s)` : "")));
    group.append(svgEl("text", { x: 4, y: y + 14 }, b.service));
    const spawned = b.spawned === null ? end(b) : b.spawned;
    group.append(svgEl("rect", { class: "bar-wait", x: scale(b.launched), y: y + 4,
                                 width: Math.max(1, scale(spawned) - scale(b.launched)), height: 12 }));
    group.append(svgEl("rect", { class: `bar-${b.outcome}`, x: scale(spawned), y: y + 4,
                                 width: Math.max(2, scale(end(b)) - scale(spawned)), height: 12 }));
    group.append(svgEl("text", { class: "dur", x: scale(end(b)) + 6, y: y + 14 },
      b.ended === null ? "…" : `${took.toFixed(2)}s`));
    parts.push(group);
  });
  if (!bars.length) parts.push(svgEl("text", { class: "tick", x: 4, y: 30 }, "no start recorded yet"));
  svg.replaceChildren(...parts);
  const total = w.total === null || w.total === undefined ? "" : ` · ${bars.length} service${bars.length === 1 ? "" : "s"} ready in ${w.total.toFixed(2)}s`;
  $("waterfall-title").textContent = `Start-up (last start or restart, launch → healthy)${total}`;
}

// -- logs -----------------------------------------------------------------------------------

function colorOf(service) {
  const names = Object.keys((view.status || {}).services || {}).sort();
  const i = names.indexOf(service);
  return `c${(i < 0 ? 0 : i) % 8}`;
}

function selectedRows(lines) {
  // The rows that the service choice and the filter keep, JSON lines pretty-printed.
  if (view.only) lines = lines.filter((l) => l.s === view.only);
  const f = view.filter;
  let picked;
  if (!f) picked = lines.map((l) => [l, false]);
  else {
    const keep = lines.map((l) => matches(l.x, f.pattern) !== f.exclude);
    if (!f.context) picked = lines.filter((_l, i) => keep[i]).map((l) => [l, false]);
    else {
      const shown = new Array(lines.length).fill(false);
      keep.forEach((k, i) => {
        if (k) for (let j = Math.max(0, i - f.context); j <= Math.min(lines.length - 1, i + f.context); j++) shown[j] = true;
      });
      picked = lines.map((l, i) => [l, !keep[i]]).filter((_p, i) => shown[i]);
    }
  }
  const rows = [];
  for (const [line, context] of picked) {
    const pretty = view.pretty ? prettyJson(line.x) : null;
    (pretty || [line.x]).forEach((text, i) => rows.push({ line, text, first: i === 0, context }));
  }
  return rows;
}

function prefixWidth() {
  return Math.max(0, ...Object.keys((view.status || {}).services || {}).map((n) => n.length),
                  ...view.lines.slice(-SHOWN_LIMIT).map((l) => l.s.length));
}

function rowNode(row, width) {
  const div = el("div", { class: row.context ? "line context" : "line", "data-service": row.line.s });
  if (view.times) {
    const clock = row.line.t.length >= 23 ? row.line.t.slice(11, 23) : row.line.t.padEnd(12);
    div.append(el("span", { class: "clock" }, (row.first ? clock : " ".repeat(12)) + " "));
  }
  div.append(el("span", { class: colorOf(row.line.s) }, row.line.s.padEnd(width) + " | "));
  const found = view.search ? spans(row.text, view.search) : [];
  if (found.length) div.classList.add("hit");
  let at = 0;
  for (const [a, b] of found) {
    div.append(row.text.slice(at, a), el("mark", {}, row.text.slice(a, b)));
    at = b;
  }
  div.append(row.text.slice(at));
  return div;
}

function drawLogs() {
  // New lines are appended to what is drawn; a changed setting (or a filter with context,
  // where a new match pulls earlier lines in) draws everything again.
  if (!view.dirtyLogs) return;
  view.dirtyLogs = false;
  const box = $("log");
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  const width = prefixWidth();
  const key = JSON.stringify([view.only, view.search, view.filter, view.pretty, view.times, width, view.colors]);
  if (view.logKey !== key || view.resetLogs || (view.filter && view.filter.context)) {
    const all = selectedRows(view.lines);
    box.replaceChildren(...all.slice(-SHOWN_LIMIT).map((r) => rowNode(r, width)));
    view.total = all.length;
    view.logKey = key;
    view.resetLogs = false;
    view.hit = -1;
  } else if (view.pending.length) {
    const rows = selectedRows(view.pending);
    box.append(...rows.map((r) => rowNode(r, width)));
    view.total += rows.length;
    while (box.children.length > SHOWN_LIMIT) box.firstChild.remove();
  }
  view.pending = [];
  const current = view.hits[view.hit];
  view.hits = Array.from(box.querySelectorAll(".line.hit"));
  view.hit = current && current.isConnected ? view.hits.indexOf(current) : -1;
  $("log-hits").textContent = view.search ? `${view.hit >= 0 ? view.hit + 1 + "/" : ""}${view.hits.length} matches` : "";
  const parts = [view.only || "all services"];
  if (view.filter) parts.push(`filter ${view.filter.exclude ? "not " : ""}'${view.filter.pattern}'` + (view.filter.context ? ` +${view.filter.context}` : ""));
  parts.push(`${view.total} lines`);
  $("log-title").textContent = parts.join(" · ");
  if (view.follow && (atBottom || !view.search)) box.scrollTop = box.scrollHeight;
}

function markHit() {
  const box = $("log");
  for (const m of box.querySelectorAll("mark.current")) m.classList.remove("current");
  const row = view.hits[view.hit];
  if (!row) return;
  for (const m of row.querySelectorAll("mark")) m.classList.add("current");
  box.scrollTop = row.offsetTop - box.clientHeight / 2; // within the pane: the page stays put
  $("log-hits").textContent = `${view.hit + 1}/${view.hits.length} matches`;
}

function moveHit(step) {
  drawLogs();
  if (!view.hits.length) return;
  view.follow = false;
  $("log-follow").checked = false;
  view.hit = view.hit < 0 ? (step > 0 ? 0 : view.hits.length - 1) : (view.hit + step + view.hits.length) % view.hits.length;
  markHit();
}

function addLines(data) {
  if (data.reset) { view.lines = []; view.pending = []; view.resetLogs = true; }
  for (const l of data.lines || []) { view.lines.push(l); view.pending.push(l); }
  if (view.lines.length > LOG_LIMIT + LOG_LIMIT / 10) view.lines.splice(0, view.lines.length - LOG_LIMIT);
  view.dirtyLogs = true;
}

// -- wiring ---------------------------------------------------------------------------------

let frame = 0;
function redraw() {
  if (frame) return;
  frame = requestAnimationFrame(() => { frame = 0; drawTable(); drawGraph(); drawWaterfall(); drawLogs(); });
}

function connect() {
  const source = new EventSource("/api/events");
  source.onopen = () => { $("connection").textContent = "live"; $("connection").className = "badge on"; };
  source.onerror = () => { $("connection").textContent = "reconnecting"; $("connection").className = "badge off"; };
  source.addEventListener("status", (e) => {
    view.status = JSON.parse(e.data);
    const colors = Object.keys(view.status.services || {}).sort().join(" ");
    if (colors !== view.colors) { view.colors = colors; view.dirtyLogs = true; }
    redraw();
  });
  source.addEventListener("graph", (e) => { view.graph = JSON.parse(e.data); redraw(); });
  source.addEventListener("waterfall", (e) => { view.waterfall = JSON.parse(e.data); redraw(); });
  source.addEventListener("logs", (e) => { addLines(JSON.parse(e.data)); redraw(); });
}

document.addEventListener("DOMContentLoaded", () => {
  if (location.search) history.replaceState(null, "", "/"); // the token stays out of history
  document.querySelector("#services tbody").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (b) act(b.dataset.action, b.dataset.service);
  });
  $("apply-plan").addEventListener("click", showPlan);
  $("plan-apply").addEventListener("click", applyPlan);
  $("plan-cancel").addEventListener("click", () => $("plan-dialog").close());
  $("log-service").addEventListener("change", (e) => { view.only = e.target.value; view.hit = -1; view.dirtyLogs = true; redraw(); });
  $("log-search").addEventListener("input", (e) => { view.search = e.target.value; view.hit = -1; view.dirtyLogs = true; redraw(); });
  $("log-search").addEventListener("keydown", (e) => { if (e.key === "Enter") moveHit(e.shiftKey ? -1 : 1); });
  $("hit-next").addEventListener("click", () => moveHit(1));
  $("hit-prev").addEventListener("click", () => moveHit(-1));
  $("log-filter").addEventListener("input", (e) => { view.filter = parseFilter(e.target.value); view.hit = -1; view.dirtyLogs = true; redraw(); });
  $("log-json").addEventListener("change", (e) => { view.pretty = e.target.checked; view.dirtyLogs = true; redraw(); });
  $("log-times").addEventListener("change", (e) => { view.times = e.target.checked; view.dirtyLogs = true; redraw(); });
  $("log-follow").addEventListener("change", (e) => {
    view.follow = e.target.checked;
    if (view.follow) $("log").scrollTop = $("log").scrollHeight;
  });
  setInterval(() => { drawTable(); if (view.waterfall && view.waterfall.bars.some((b) => b.ended === null)) drawWaterfall(); }, 1000);
  connect();
});
