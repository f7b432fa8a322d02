// numcheck dashboard: plain JavaScript, no build step, nothing fetched from elsewhere.
// The API key lives in this tab's sessionStorage and goes only to this server's /v1 API.
"use strict";

const KEY = "numcheck.apiKey";
const ACTIVE = new Set(["pending", "processing"]);
const $ = (id) => document.getElementById(id);
let timer = null;

async function api(path, options = {}) {
  const headers = { "X-API-Key": sessionStorage.getItem(KEY) || "", ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((body && body.message) || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content); else td.textContent = content;
  row.append(td);
  return td;
}

const SVG = "http://www.w3.org/2000/svg";
const PAGE = 50;
const CHARTED = [["valid", "Valid"], ["type", "Types"], ["region", "Top regions"],
                 ["failure", "Failure reasons"]];
let shown = PAGE; // tasks listed: "Show more tasks" adds a page
let lastCreated = null; // the task the upload status speaks of
const expanded = new Set(); // tasks whose details are open (they survive each refresh)
const detailsCache = new Map(); // an exported task's outcome and preview never change

function svg(name, attributes = {}) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

// A horizontal bar chart in inline SVG: no library, nothing inline for the CSP to refuse.
function barChart(title, values) {
  const entries = Object.entries(values).sort((a, b) => b[1] - a[1]);
  const figure = document.createElement("figure");
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  const max = Math.max(...entries.map(([, n]) => n), 1);
  const rowHeight = 20, labelWidth = 150, barWidth = 150;
  const chart = svg("svg", {
    viewBox: `0 0 ${labelWidth + barWidth + 70} ${entries.length * rowHeight}`,
    role: "img",
    "aria-label": `${title}: ` + entries.map(([k, n]) => `${k || "blank"} ${n}`).join(", "),
  });
  entries.forEach(([label, count], index) => {
    const y = index * rowHeight;
    const name = svg("text", { x: labelWidth - 6, y: y + 14, "text-anchor": "end" });
    name.textContent = label || "(blank)";
    const width = Math.max(1, Math.round((count / max) * barWidth));
    const bar = svg("rect", { x: labelWidth, y: y + 3, width, height: rowHeight - 6, class: "bar" });
    const value = svg("text", { x: labelWidth + width + 6, y: y + 14 });
    value.textContent = count.toLocaleString();
    chart.append(name, bar, value);
  });
  figure.append(caption, chart);
  return figure;
}

function previewTable(preview) {
  const table = document.createElement("table");
  table.className = "preview";
  const caption = document.createElement("caption");
  caption.textContent = `First ${preview.rows.length} rows of the results`;
  const head = document.createElement("tr");
  for (const name of preview.columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    head.append(th);
  }
  const thead = document.createElement("thead");
  thead.append(head);
  const tbody = document.createElement("tbody");
  for (const values of preview.rows) {
    const row = document.createElement("tr");
    for (const value of values) cell(row, value);
    tbody.append(row);
  }
  table.append(caption, thead, tbody);
  const scroll = document.createElement("div");
  scroll.className = "table-scroll";
  scroll.tabIndex = 0;
  scroll.setAttribute("role", "region");
  scroll.setAttribute("aria-label", "Results preview");
  scroll.append(table);
  return scroll;
}

async function loadDetails(task) {
  if (detailsCache.has(task.task_id)) return detailsCache.get(task.task_id);
  const id = encodeURIComponent(task.task_id);
  const [outcome, preview] = await Promise.all([
    api(`/v1/tasks/${id}/outcome`),
    task.status === "exported" ? api(`/v1/tasks/${id}/preview?rows=10`) : null,
  ]);
  if (!ACTIVE.has(task.status)) detailsCache.set(task.task_id, { outcome, preview });
  return { outcome, preview };
}

function renderDetails(task, container) {
  loadDetails(task).then(({ outcome, preview }) => {
    const summary = document.createElement("p");
    summary.className = "outcome-counts";
    summary.textContent = `${outcome.success.toLocaleString()} answered, ` +
      `${outcome.failure.toLocaleString()} failed, of ${outcome.total.toLocaleString()}.`;
    const charts = document.createElement("div");
    charts.className = "charts";
    const named = new Set(CHARTED.map(([key]) => key).concat(["reason"]));
    const columns = CHARTED.concat(
      Object.keys(outcome.tallies).filter((key) => !named.has(key)).map((key) => [key, key]));
    for (const [key, title] of columns) {
      if (outcome.tallies[key]) charts.append(barChart(title, outcome.tallies[key]));
    }
    container.replaceChildren(summary, charts);
    if (preview) container.append(previewTable(preview));
  }).catch((error) => { container.textContent = `Details unavailable: ${error.message}`; });
}

function detailsToggle(task) {
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "secondary";
  toggle.textContent = "Details";
  toggle.setAttribute("aria-label", `Details of task ${task.task_id}`);
  toggle.setAttribute("aria-expanded", String(expanded.has(task.task_id)));
  toggle.setAttribute("aria-controls", `details-${task.task_id}`);
  toggle.addEventListener("click", () => {
    if (expanded.has(task.task_id)) expanded.delete(task.task_id);
    else expanded.add(task.task_id);
    refresh();
  });
  return toggle;
}

function cancelButton(task) {
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "secondary";
  cancel.textContent = "Cancel";
  cancel.setAttribute("aria-label", `Cancel task ${task.task_id}`);
  cancel.addEventListener("click", async () => {
    if (!window.confirm(`Cancel task ${task.task_id}? Lines not checked yet are not charged.`)) return;
    cancel.disabled = true;
    try {
      await api(`/v1/tasks/${encodeURIComponent(task.task_id)}`, { method: "DELETE" });
    } catch (error) {
      $("upload-status").textContent = `Cancel refused: ${error.message}`;
    }
    refresh();
  });
  return cancel;
}

function renderTasks(tasks) {
  const body = $("tasks").querySelector("tbody");
  body.replaceChildren();
  $("tasks-empty").hidden = tasks.length > 0;
  for (const task of tasks) {
    if (task.task_id === lastCreated && ["cancelled", "failed", "expired"].includes(task.status)) {
      $("upload-status").textContent = `Task ${task.task_id} ${task.status}.`;
    }
    const row = document.createElement("tr");
    row.dataset.taskId = task.task_id;
    row.dataset.status = task.status;
    cell(row, task.task_id);
    cell(row, task.task_type);
    const status = cell(row, task.status);
    status.className = `status-${task.status}`;

    const done = task.success + task.failure;
    const progress = document.createElement("progress");
    progress.max = Math.max(task.total, 1);
    progress.value = done;
    progress.setAttribute("aria-label", `Task ${task.task_id}: ${done} of ${task.total} checked`);
    const counts = document.createElement("span");
    counts.className = "counts";
    counts.textContent = `${done.toLocaleString()} / ${task.total.toLocaleString()}`;
    const wrap = document.createElement("span");
    wrap.append(progress, counts);
    if (task.status === "exported" || task.failure > 0) {
      const outcome = document.createElement("span");
      outcome.className = "outcome";
      outcome.textContent = `${task.success.toLocaleString()} answered, ${task.failure.toLocaleString()} failed`;
      wrap.append(outcome);
    }
    cell(row, wrap);
    cell(row, task.created_at.replace("T", " ").slice(0, 19));

    const actions = cell(row, "");
    actions.className = "actions";
    if (task.result_url) {
      const link = document.createElement("a");
      link.href = task.result_url;
      link.textContent = "Download";
      link.setAttribute("download", `${task.task_id}.zip`);
      link.setAttribute("aria-label", `Download results of task ${task.task_id}`);
      actions.append(link);
    }
    if (task.status === "exported") actions.append(detailsToggle(task));
    if (ACTIVE.has(task.status)) actions.append(cancelButton(task));
    body.append(row);

    if (task.status === "exported" && expanded.has(task.task_id)) {
      const detailsRow = document.createElement("tr");
      detailsRow.className = "details";
      const container = document.createElement("td");
      container.colSpan = 6;
      container.id = `details-${task.task_id}`;
      container.textContent = "Loading…";
      detailsRow.append(container);
      body.append(detailsRow);
      renderDetails(task, container);
    }
  }
}

function listQuery(cursor) {
  const query = new URLSearchParams({ limit: String(Math.min(shown, 500)) });
  if ($("filter-status").value) query.set("status", $("filter-status").value);
  if ($("filter-check").value) query.set("task_type", $("filter-check").value);
  if (cursor) query.set("cursor", cursor);
  return `/v1/tasks?${query}`;
}

async function refresh() {
  try {
    let page = await api(listQuery(null));
    const tasks = page.tasks;
    while (page.next_cursor && tasks.length < shown) {
      page = await api(listQuery(page.next_cursor));
      tasks.push(...page.tasks);
    }
    renderTasks(tasks.slice(0, shown));
    $("more-tasks").hidden = !page.next_cursor && tasks.length <= shown;
    const account = await api("/v1/account");
    const credits = account.credits || {};
    $("credits").textContent = credits.unlimited
      ? "Credits: unlimited"
      : `Credits: ${(credits.balance ?? 0).toLocaleString()} (${(credits.reserved ?? 0).toLocaleString()} reserved)`;
    $("credits").hidden = false;
  } catch (error) {
    if (error.status === 401) signOut("Your key was refused; sign in again.");
  }
}

async function showWorkspace() {
  const checks = await api("/v1/checks");
  const select = $("check");
  select.replaceChildren();
  $("filter-check").replaceChildren(new Option("Any", ""));
  for (const check of checks) {
    const option = document.createElement("option");
    option.value = check.name;
    option.textContent = `${check.name} — ${check.description}`;
    select.append(option);
    $("filter-check").append(new Option(check.name, check.name));
  }
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("sign-out").hidden = false;
  await refresh();
  clearInterval(timer);
  timer = setInterval(refresh, 1500);
  $("file").focus();
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  $("workspace").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("api-key").value = "";
  $("api-key").focus();
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("api-key").value.trim());
  $("sign-in-error").textContent = "";
  try {
    await showWorkspace();
  } catch (error) {
    signOut(error.status === 401 ? "That key was refused." : error.message);
  }
});

$("sign-out").addEventListener("click", () => signOut());

// The header row of a text file, read here so its columns can be offered by name. A workbook
// (or a gzip) is not read in the browser: the server finds the column itself.
const DELIMITERS = [",", ";", "\t", "|"];

function splitRecord(line, delimiter) {
  const fields = [];
  let field = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === delimiter) { fields.push(field.trim()); field = ""; }
    else field += c;
  }
  fields.push(field.trim());
  return fields;
}

function headerOf(text) {
  const rows = text.split(/\r\n|\n|\r/).filter((line) => line.trim()).slice(0, 20);
  if (rows.length === 0) return [];
  let best = [];
  for (const delimiter of DELIMITERS) {
    const fields = splitRecord(rows[0], delimiter);
    if (fields.length > best.length) best = fields;
  }
  return best.length > 1 ? best : [];
}

function offerColumns(names) {
  for (const [id, first] of [["column", "Find it"], ["id-column", "None"]]) {
    const select = $(id);
    select.replaceChildren(new Option(first, ""));
    for (const name of names) if (name) select.append(new Option(name, name));
  }
}

$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  offerColumns([]);
  if (!file) return;
  const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  const binary = (head[0] === 0x50 && head[1] === 0x4b) || (head[0] === 0x1f && head[1] === 0x8b);
  if (!binary) offerColumns(headerOf(await file.slice(0, 65536).text()));
});

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData();
  form.append("task_type", $("check").value);
  for (const [id, name] of [["column", "column"], ["id-column", "id_column"],
                            ["region", "default_region"], ["result-format", "result_format"]]) {
    if ($(id).value) form.append(name, $(id).value.trim());
  }
  if ($("include-failed").checked) form.append("include_failed", "true");
  form.append("file", $("file").files[0]);
  $("upload-status").textContent = "Uploading…";
  try {
    const created = await api("/v1/tasks", { method: "POST", body: form });
    lastCreated = created.task_id;
    $("upload-status").textContent = `Task ${created.task_id} created: ${created.total.toLocaleString()} numbers.`;
    $("upload-form").reset();
    offerColumns([]);
    refresh();
  } catch (error) {
    $("upload-status").textContent = `Upload refused: ${error.message}`;
  }
});

for (const id of ["filter-status", "filter-check"]) {
  $(id).addEventListener("change", () => { shown = PAGE; refresh(); });
}
$("task-filters").addEventListener("submit", (event) => event.preventDefault());
$("more-tasks").addEventListener("click", () => { shown += PAGE; refresh(); });

if (sessionStorage.getItem(KEY)) showWorkspace().catch(() => signOut());
