// m2fp-roto page: upload, follow the job, show the picture, the part map and the roto shapes.
// Plain browser JavaScript, no libraries: studios run this offline.
"use strict";

const $ = (id) => document.getElementById(id);
const STORE = "m2fp-roto-jobs";
const view = {
  job: null, doc: null, frames: [], index: 0, hiddenParts: new Set(), hiddenPeople: new Set(),
  palette: {}, health: null, events: null, poll: null, timer: null, xhr: null,
};

// ---------------------------------------------------------------------------- helpers

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || `${response.status} ${response.statusText}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function size(bytes) {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(0)} KB`;
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
}

function duration(seconds) {
  if (seconds == null) return "";
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s left`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return `about ${m} min ${String(s).padStart(2, "0")} s left`;
}

function showMessage(text, kind = "error") {
  const box = $("message");
  box.hidden = !text;
  box.className = `message ${kind === "info" ? "info" : ""}`;
  box.textContent = text || "";
}

const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

// ---------------------------------------------------------------------------- the model

async function checkHealth() {
  const health = view.health = await api("/api/health");
  const pill = $("model-status"), model = health.model;
  pill.className = `pill ${model.state}`;
  pill.textContent = {ready: `M2FP ready · ${model.device} ${model.precision}`, loading: "M2FP loading…",
                      missing: "No model: label maps and mattes only", error: "Model failed to load"}[model.state];
  pill.title = model.message || "";
  const notice = $("notice");
  notice.hidden = model.state === "ready" || model.state === "loading";
  $("notice-message").textContent = model.message || "";
  $("notice-install").textContent = model.install || "";
  $("limit").textContent = ` — up to ${size(health.limits.max_upload)}`;
  if (model.state === "loading") setTimeout(checkHealth, 2000);
}

async function loadPalettes() {
  view.palette = await api("/api/labelsets");
}

// ---------------------------------------------------------------------------- uploading

function formFor(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("input", $("input-kind").value);
  for (const input of document.querySelectorAll(".settings input")) {
    if (input.type === "checkbox") { if (!input.checked) form.append(input.name, "false"); }
    else if (input.value.trim() !== "") form.append(input.name, input.value.trim());
  }
  return form;
}

function upload(file) {
  if (!file) return;
  const limit = view.health && view.health.limits.max_upload;
  if (limit && file.size > limit) {
    showMessage(`${file.name} is ${size(file.size)}; this server takes at most ${size(limit)}.`);
    return;
  }
  stopWatching();
  showMessage("");
  clearResult(`Working on ${file.name}…`);
  setProgress({stage: "Uploading", progress: 0, eta: null, state: "uploading"});
  const xhr = view.xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/jobs");
  xhr.upload.onprogress = (e) => e.lengthComputable &&
    setProgress({stage: `Uploading ${file.name}`, progress: e.loaded / e.total, state: "uploading"});
  xhr.onload = () => {
    view.xhr = null;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (err) { body = {message: xhr.statusText}; }
    if (xhr.status !== 202) {
      setProgress({stage: "Refused", progress: 1, state: "failed"});
      showMessage(body.message || `upload failed (${xhr.status})`);
      return;
    }
    remember(body);
    view.job = body;
    watch(body.id);
  };
  xhr.onerror = () => { setProgress({stage: "Upload failed", progress: 1, state: "failed"});
                        showMessage("the upload was cut off (is the server running?)"); };
  xhr.send(formFor(file));
}

function clearResult(text) {
  if (view.timer) play();
  view.doc = null;
  $("result").hidden = true;
  $("downloads").hidden = true;
  $("legend").hidden = true;
  $("empty").hidden = false;
  $("empty").replaceChildren(el("p", {}, text));
}

// ---------------------------------------------------------------------------- following a job

function setProgress({stage, progress, eta, state}) {
  const box = $("progress");
  box.hidden = false;
  box.className = `card ${state}`;
  $("stage").textContent = stage;
  $("percent").textContent = `${Math.round(progress * 100)} %`;
  $("bar-fill").style.width = `${(progress * 100).toFixed(1)}%`;
  $("eta").textContent = state === "running" ? duration(eta) : "";
  $("cancel").hidden = !(state === "queued" || state === "running" || state === "uploading");
}

function stopWatching() {
  if (view.events) view.events.close();
  clearTimeout(view.poll);
  view.events = null;
}

function watch(id) {
  stopWatching();
  if (!view.job || view.job.id !== id) clearResult("Loading the job…");
  history.replaceState(null, "", `#job=${id}`);
  const source = view.events = new EventSource(`/api/jobs/${id}/events`);
  source.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
  source.addEventListener("gone", (e) => { stopWatching(); showMessage(JSON.parse(e.data).message); });
  source.onerror = () => {  // the stream ended or broke: ask once more, then poll
    if (view.events !== source) return;
    source.close();
    view.events = null;
    const poll = () => api(`/api/jobs/${id}`).then((s) => {
      onStatus(s);
      if (!["done", "failed", "cancelled"].includes(s.state)) view.poll = setTimeout(poll, 1000);
    }).catch((err) => showMessage(err.message));
    poll();
  };
}

function onStatus(status) {
  view.job = status;
  const label = {queued: status.message || "Queued", running: status.message, done: "Done",
                 failed: "Failed", cancelled: "Cancelled"}[status.state] || status.state;
  setProgress({stage: label, progress: status.state === "done" ? 1 : status.progress, eta: status.eta_s,
               state: status.state});
  remember(status);
  if (status.state === "failed") showMessage(status.message);
  if (status.state === "cancelled") showMessage("The job was cancelled.", "info");
  if (status.state === "done" && (!view.doc || view.doc.jobId !== status.id)) {
    stopWatching();
    showResult(status).catch((err) => showMessage(`cannot show the result: ${err.message}`));
  }
}

async function cancel() {
  if (view.xhr) { view.xhr.abort(); view.xhr = null; setProgress({stage: "Cancelled", progress: 0, state: "cancelled"}); return; }
  if (view.job) onStatus(await api(`/api/jobs/${view.job.id}/cancel`, {method: "POST"}));
}

// ---------------------------------------------------------------------------- recent jobs

function recentJobs() {
  try { return JSON.parse(localStorage.getItem(STORE)) || []; } catch (err) { return []; }
}

function remember(status) {
  const jobs = recentJobs().filter((j) => j.id !== status.id);
  jobs.unshift({id: status.id, name: (status.input || {}).name || status.id, state: status.state});
  localStorage.setItem(STORE, JSON.stringify(jobs.slice(0, 12)));
  drawRecent();
}

function drawRecent() {
  const list = $("recent"), jobs = recentJobs();
  list.replaceChildren(...(jobs.length ? jobs.map((j) => el("li", {},
    el("button", {class: "link", title: j.id, onclick: () => watch(j.id)}, j.name),
    el("span", {class: "muted"}, j.state))) : [el("li", {class: "muted"}, "none yet")]));
}

// ---------------------------------------------------------------------------- the result

function fileUrl(name, download = false) {
  return `/api/jobs/${view.job.id}/files/${encodeURIComponent(name)}${download ? "?download=true" : ""}`;
}

async function showResult(status) {
  const doc = await api(fileUrl("shot.json"));
  doc.jobId = status.id;
  view.doc = doc;
  view.frames = status.frames;
  view.index = Math.min(view.index, view.frames.length - 1) || 0;
  view.hiddenParts.clear();
  view.hiddenPeople.clear();
  $("empty").hidden = true;
  $("result").hidden = false;
  $("job-title").textContent = status.input.name;
  $("job-summary").textContent = `${status.width}×${status.height} · ${status.frames.length} frame` +
    `${status.frames.length === 1 ? "" : "s"} · ${status.message}`;
  $("picture-caption").textContent = status.page.picture ? "Picture + roto" : "Label map (no picture) + roto";
  const slider = $("slider");
  slider.max = Math.max(0, view.frames.length - 1);
  slider.value = view.index;
  $("timeline").hidden = view.frames.length < 2;
  const overlay = $("overlay");
  overlay.setAttribute("viewBox", `0 0 ${doc.width} ${doc.height}`);
  overlay.setAttribute("preserveAspectRatio", "none");
  drawLegend(status);
  drawDownloads(status);
  if (status.warnings && status.warnings.length) {
    showMessage(`${status.warnings.length} warning(s): ${status.warnings.slice(0, 3).join(" · ")}`, "info");
  }
  render();
}

function partColour(name) {
  const set = view.palette[view.doc.label_set];
  const id = set ? set.parts.indexOf(name) : -1;
  return id >= 0 ? set.colours[id] : [240, 160, 48];
}

function swatch(colour) {
  const box = el("span", {class: "swatch"});
  box.style.background = rgb(colour);  // (the page's policy allows no style attributes)
  return box;
}

function drawLegend(status) {
  const set = view.palette[view.doc.label_set];
  const order = (name) => (set ? set.parts.indexOf(name) : 0);
  const parts = [...new Set(view.doc.shapes.map((s) => s.part))].sort((a, b) => order(a) - order(b));
  const people = [...new Set(view.doc.shapes.map((s) => s.person))].sort((a, b) => a - b);
  const toggle = (set_, key) => (e) => { e.target.checked ? set_.delete(key) : set_.add(key); render(); };
  $("parts").replaceChildren(...parts.map((p) => el("li", {}, el("label", {},
    el("input", {type: "checkbox", checked: "", "data-part": p, onchange: toggle(view.hiddenParts, p)}),
    swatch(partColour(p)), p.replace(/_/g, " ")))));
  $("people").replaceChildren(...people.map((p) => el("li", {}, el("label", {},
    el("input", {type: "checkbox", checked: "", "data-person": String(p), onchange: toggle(view.hiddenPeople, p)}),
    `person ${p}`))));
  $("legend").hidden = parts.length === 0;
}

function drawDownloads(status) {
  $("files").replaceChildren(...status.files.map((f) => el("a", {class: "button", href: fileUrl(f.name, true),
    download: f.name, "data-file": f.name}, el("span", {}, `${f.label}`), el("span", {class: "size"}, `${f.name} · ${size(f.size)}`))));
  $("downloads").hidden = false;
}

function setAll(kind, visible) {
  const hidden = kind === "parts" ? view.hiddenParts : view.hiddenPeople;
  const attr = kind === "parts" ? "data-part" : "data-person";
  for (const box of document.querySelectorAll(`#${kind} input`)) {
    box.checked = visible;
    const key = kind === "parts" ? box.getAttribute(attr) : Number(box.getAttribute(attr));
    visible ? hidden.delete(key) : hidden.add(key);
  }
  render();
}

// Linear interpolation between a shape's keys, held before the first and after the last
// (the RotoDocument's rule); points are [x, y, in_dx, in_dy, out_dx, out_dy].
function pointsAt(shape, frame) {
  const keys = shape.keys;
  if (frame <= keys[0].frame || keys.length === 1) return keys[0].points;
  const last = keys[keys.length - 1];
  if (frame >= last.frame) return last.points;
  let i = 0;
  while (keys[i + 1].frame <= frame) i++;
  const a = keys[i], b = keys[i + 1], t = (frame - a.frame) / (b.frame - a.frame);
  return a.points.map((p, k) => p.map((v, j) => v + t * (b.points[k][j] - v)));
}

function ring(points) {
  const n = points.length, f = (v) => v.toFixed(2);
  let d = `M${f(points[0][0])} ${f(points[0][1])}`;
  for (let i = 0; i < n; i++) {
    const p = points[i], q = points[(i + 1) % n];
    d += `C${f(p[0] + p[4])} ${f(p[1] + p[5])} ${f(q[0] + q[2])} ${f(q[1] + q[3])} ${f(q[0])} ${f(q[1])}`;
  }
  return d + "Z";
}

function anchors(shapes, frame) {
  // anchor points, a fixed size on screen whatever the picture's scale
  const box = $("overlay").getBoundingClientRect();
  const r = (2.2 * view.doc.width) / Math.max(box.width, 1);
  return shapes.map((s) => {
    const group = document.createElementNS("http://www.w3.org/2000/svg", "g");
    group.setAttribute("class", "anchors");
    group.setAttribute("data-part", s.part);
    for (const p of pointsAt(s, frame)) {
      const dot = document.createElementNS("http://www.w3.org/2000/svg", "circle");
      dot.setAttribute("cx", p[0].toFixed(2));
      dot.setAttribute("cy", p[1].toFixed(2));
      dot.setAttribute("r", r.toFixed(2));
      group.append(dot);
    }
    return group;
  });
}

function render() {
  const doc = view.doc;
  if (!doc) return;
  const frame = view.frames[view.index];
  const page = view.job.page;
  const picture = $("picture");
  picture.src = fileUrl((page.picture || page.parts).replace("{frame}", frame));
  picture.classList.toggle("dim", !page.picture);
  $("partmap").src = fileUrl(page.parts.replace("{frame}", frame));
  const drawn = (s) => s.frames[0] <= frame && frame <= s.frames[1] &&
    !(s.hidden || []).some(([a, b]) => a <= frame && frame <= b);  // hidden: the part is out of sight
  const alive = doc.shapes.filter((s) => drawn(s) &&
    !view.hiddenParts.has(s.part) && !view.hiddenPeople.has(s.person));
  const holes = {};
  for (const s of alive) if (s.hole && s.parent) (holes[s.parent] = holes[s.parent] || []).push(s);
  const paths = alive.filter((s) => !s.hole || !s.parent).map((s) => {
    const colour = rgb(partColour(s.part));
    const d = [s, ...(holes[s.name] || [])].map((h) => ring(pointsAt(h, frame))).join("");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    for (const [k, v] of Object.entries({d, stroke: colour, fill: colour, "fill-rule": "evenodd",
      "data-name": s.name, "data-part": s.part, "data-person": String(s.person)})) path.setAttribute(k, v);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `${s.name} (${pointsAt(s, frame).length} points)`;
    path.append(title);
    return path;
  });
  if ($("show-points").checked) paths.push(...anchors(alive, frame));
  $("overlay").replaceChildren(...paths);
  $("frame-label").textContent = `frame ${frame} (${view.index + 1}/${view.frames.length})`;
  $("slider").value = view.index;
}

function step(delta) {
  if (!view.frames.length) return;
  view.index = (view.index + delta + view.frames.length) % view.frames.length;
  render();
}

function play() {
  if (view.timer) { clearInterval(view.timer); view.timer = null; $("play").textContent = "▶"; return; }
  const fps = Math.min((view.doc && view.doc.fps) || 24, 24);
  view.timer = setInterval(() => step(1), 1000 / fps);
  $("play").textContent = "❚❚";
}

// ---------------------------------------------------------------------------- wiring

function wire() {
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); upload(e.dataTransfer.files[0]); });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => { e.preventDefault(); if (e.target !== drop && !drop.contains(e.target)) upload(e.dataTransfer.files[0]); });
  $("file").addEventListener("change", (e) => { upload(e.target.files[0]); e.target.value = ""; });
  $("cancel").addEventListener("click", () => cancel().catch((err) => showMessage(err.message)));
  $("slider").addEventListener("input", (e) => { view.index = Number(e.target.value); render(); });
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("play").addEventListener("click", play);
  $("show-points").addEventListener("change", render);
  window.addEventListener("resize", render);
  for (const b of document.querySelectorAll("[data-all]")) b.addEventListener("click", () => setAll(b.dataset.all, true));
  for (const b of document.querySelectorAll("[data-none]")) b.addEventListener("click", () => setAll(b.dataset.none, false));
  document.addEventListener("keydown", (e) => {
    const t = e.target, box = t.tagName === "INPUT" && t.type === "checkbox";
    if (["SELECT", "TEXTAREA"].includes(t.tagName) || (t.tagName === "INPUT" && !box)) return;  // (a range moves itself)
    if (e.key === "ArrowLeft") { step(-1); e.preventDefault(); }
    if (e.key === "ArrowRight") { step(1); e.preventDefault(); }
    if (e.key === " " && view.frames.length > 1 && !box && t.tagName !== "BUTTON") { play(); e.preventDefault(); }
  });
}

async function start() {
  wire();
  drawRecent();
  await Promise.all([checkHealth(), loadPalettes()]).catch((err) => showMessage(`the server does not answer: ${err.message}`));
  const match = location.hash.match(/job=([A-Za-z0-9_-]{22})/);
  if (match) watch(match[1]);
}

start();
