// The Zyron page: polls the backend for the stack's status and jobs, submits jobs.
"use strict";

const state = { backend: "", refreshMs: 2000, timer: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

async function getJson(path) {
  const response = await fetch(state.backend + path, { cache: "no-store" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${path} answered ${response.status}`);
  return body;
}

function renderStatus(status) {
  const tbody = document.querySelector("#status-table tbody");
  tbody.replaceChildren(
    ...Object.entries(status.services).map(([name, svc]) =>
      el("tr", { dataset: { service: name, ok: String(svc.ok) } },
        el("td", {}, name),
        el("td", {}, el("span", { class: "badge", dataset: { state: svc.ok ? "ok" : "down" } }, svc.ok ? "healthy" : "unhealthy")),
        el("td", {}, typeof svc.detail === "string" ? svc.detail : JSON.stringify(svc.detail)),
        el("td", {}, `${Number(svc.latency_ms || 0).toFixed(1)} ms`)))
  );
  const overall = document.getElementById("overall");
  overall.textContent = status.healthy ? "all services healthy" : "degraded";
  overall.dataset.state = status.healthy ? "ok" : "down";
  document.getElementById("env").textContent = `env: ${status.env}`;
}

function renderBackendDown(error) {
  const tbody = document.querySelector("#status-table tbody");
  tbody.replaceChildren(
    el("tr", { dataset: { service: "backend", ok: "false" } },
      el("td", {}, "backend"),
      el("td", {}, el("span", { class: "badge", dataset: { state: "down" } }, "unreachable")),
      el("td", {}, String(error.message || error)), el("td", {}, "")));
  const overall = document.getElementById("overall");
  overall.textContent = "backend unreachable";
  overall.dataset.state = "down";
}

function renderJobs(jobs) {
  const tbody = document.querySelector("#jobs tbody");
  tbody.replaceChildren(
    ...jobs.map((job) => {
      let result = job.error ? job.error : "";
      if (job.status === "done" && job.result) {
        const url = state.backend + job.result.url;
        result = el("a", { href: url, target: "_blank" },
          el("img", { src: url, alt: `thumbnail ${job.result.width}x${job.result.height}` }));
      }
      return el("tr", { dataset: { job: job.id, status: job.status } },
        el("td", {}, el("code", {}, job.id.slice(0, 8))),
        el("td", {}, job.kind),
        el("td", {}, job.filename || ""),
        el("td", {}, el("span", { class: "badge status", dataset: { state: job.status } }, job.status)),
        el("td", {}, new Date(job.created_at).toLocaleTimeString()),
        el("td", {}, result));
    })
  );
}

async function refresh() {
  try {
    renderStatus(await getJson("/api/status"));
    renderJobs((await getJson("/api/jobs?limit=20")).jobs);
    document.getElementById("updated").textContent = new Date().toLocaleTimeString();
  } catch (error) {
    renderBackendDown(error);
  }
}

async function submitJob(event) {
  event.preventDefault();
  const message = document.getElementById("message");
  const file = document.getElementById("file").files[0];
  if (!file) return;
  const params = {
    max_width: Number(document.getElementById("max-width").value || 256),
    max_height: Number(document.getElementById("max-height").value || 256),
  };
  const form = new FormData();
  form.append("kind", "thumbnail");
  form.append("file", file);
  form.append("params", JSON.stringify(params));
  message.className = "";
  message.textContent = "submitting…";
  try {
    const response = await fetch(state.backend + "/api/jobs", { method: "POST", body: form });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.detail || `submit answered ${response.status}`);
    message.textContent = `job ${body.id.slice(0, 8)} ${body.status}`;
    message.dataset.job = body.id;
    await refresh();
  } catch (error) {
    message.className = "error";
    message.textContent = `could not submit: ${error.message || error}`;
  }
}

async function start() {
  const config = await (await fetch("config.json", { cache: "no-store" })).json();
  state.backend = config.backend_url;
  state.refreshMs = config.refresh_ms;
  document.title = config.title;
  document.getElementById("title").textContent = config.title;
  document.getElementById("backend-url").textContent = config.backend_url;
  document.getElementById("job-form").addEventListener("submit", submitJob);
  await refresh();
  state.timer = setInterval(refresh, state.refreshMs);
}

start();
