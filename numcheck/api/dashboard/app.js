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

function renderTasks(tasks) {
  const body = $("tasks").querySelector("tbody");
  body.replaceChildren();
  $("tasks-empty").hidden = tasks.length > 0;
  for (const task of tasks) {
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
    cell(row, wrap);
    cell(row, task.created_at.replace("T", " ").slice(0, 19));

    const actions = cell(row, "");
    if (task.result_url) {
      const link = document.createElement("a");
      link.href = task.result_url;
      link.textContent = "Download";
      link.setAttribute("download", `${task.task_id}.zip`);
      link.setAttribute("aria-label", `Download results of task ${task.task_id}`);
      actions.append(link);
    }
    if (ACTIVE.has(task.status)) {
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "secondary";
      cancel.textContent = "Cancel";
      cancel.setAttribute("aria-label", `Cancel task ${task.task_id}`);
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        await api(`/v1/tasks/${encodeURIComponent(task.task_id)}`, { method: "DELETE" }).catch(() => {});
        refresh();
      });
      actions.append(cancel);
    }
    body.append(row);
  }
}

async function refresh() {
  try {
    const page = await api("/v1/tasks?limit=50");
    renderTasks(page.tasks);
  } catch (error) {
    if (error.status === 401) signOut("Your key was refused; sign in again.");
  }
}

async function showWorkspace() {
  const checks = await api("/v1/checks");
  const select = $("check");
  select.replaceChildren();
  for (const check of checks) {
    const option = document.createElement("option");
    option.value = check.name;
    option.textContent = `${check.name} — ${check.description}`;
    select.append(option);
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
    $("upload-status").textContent = `Task ${created.task_id} created: ${created.total.toLocaleString()} numbers.`;
    $("upload-form").reset();
    offerColumns([]);
    refresh();
  } catch (error) {
    $("upload-status").textContent = `Upload refused: ${error.message}`;
  }
});

if (sessionStorage.getItem(KEY)) showWorkspace().catch(() => signOut());
