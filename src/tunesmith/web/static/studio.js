// tunesmith studio: what every page shares — the API, uploads, job progress, drop zones, drawing.
// Plain ES modules, no build step, nothing loaded from the internet.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// Requests that change anything carry X-Tunesmith: 1 (the server refuses them otherwise, which is
// what stops another web site from starting jobs here).
export async function api(path, { method = "GET", body = undefined } = {}) {
  const init = { method, headers: { "X-Tunesmith": "1" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { doc = { detail: text }; }
  if (!res.ok) {
    let detail = doc && doc.detail !== undefined ? doc.detail : res.statusText;
    if (Array.isArray(detail)) detail = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    throw new Error(String(detail));
  }
  return doc;
}

// One file, streamed as the raw request body (the server writes it to disk as it arrives).
export function uploadFile(file, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/uploads?name=${encodeURIComponent(file.name || "recording")}`);
    xhr.setRequestHeader("X-Tunesmith", "1");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let doc = {};
      try { doc = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201) resolve(doc.uploads[0]);
      else reject(new Error(doc.detail || `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error("upload failed: the studio did not answer"));
    xhr.send(file);
  });
}

export async function uploadAll(files, statusEl) {
  const out = [];
  for (const [i, f] of files.entries()) {
    out.push(await uploadFile(f, (frac) => {
      if (statusEl) statusEl.textContent = `uploading ${f.name} (${i + 1}/${files.length}): ${Math.round(frac * 100)} %`;
    }));
  }
  return out;
}

// Follow a job with server-sent events until it ends; falls back to polling if the stream breaks.
export function followJob(jobId, onStatus = () => {}) {
  return new Promise((resolve) => {
    let finished = false;
    const done = async () => {
      if (finished) return;
      finished = true;
      const full = await api(`/api/jobs/${jobId}`);
      onStatus(full);
      resolve(full);
    };
    const poll = async () => {
      while (!finished) {
        try {
          const s = await api(`/api/jobs/${jobId}/status`); // cheap: the full job comes once, at the end
          onStatus(s);
          if (["done", "failed", "cancelled"].includes(s.state)) { await done(); return; }
        } catch { /* the server may be restarting: keep trying */ }
        await new Promise((r) => setTimeout(r, 700));
      }
    };
    if (!window.EventSource) { poll(); return; }
    const es = new EventSource(`/api/jobs/${jobId}/events`);
    es.onmessage = (e) => {
      const s = JSON.parse(e.data);
      onStatus(s);
      if (["done", "failed", "cancelled"].includes(s.state)) { es.close(); done(); }
    };
    es.addEventListener("end", () => { es.close(); done(); });
    es.onerror = () => { es.close(); if (!finished) poll(); };
  });
}

// A progress bar + status line + cancel button for one job; resolves with the finished job.
export async function runJob(started, ui) {
  const job = started.job;
  ui.box.classList.remove("hidden");
  ui.cancel.disabled = false;
  ui.cancel.onclick = () => api(`/api/jobs/${job.id}/cancel`, { method: "POST" }).catch(() => {});
  setUrlJob(job.id);
  const final = await followJob(job.id, (s) => {
    ui.bar.value = s.progress || 0;
    ui.status.textContent = `${s.state}${s.stage ? ": " + s.stage : ""}${s.note ? " — " + s.note : ""}`;
    ui.status.classList.toggle("error", s.state === "failed");
  });
  ui.cancel.disabled = true;
  if (final.state === "failed") ui.status.textContent = `failed: ${final.error}`;
  if (final.state === "done") ui.status.textContent = `done in ${final.result ? final.result.seconds : "?"} s`;
  return final;
}

export function jobUi(root) {
  return { box: $(".job", root), bar: $(".job progress", root), status: $(".job .status", root), cancel: $(".job .cancel", root) };
}

// Results survive a reload: the page keeps the job it shows in its address.
export function setUrlJob(id) {
  const url = new URL(location.href);
  url.searchParams.set("job", id);
  history.replaceState(null, "", url);
}
export function urlJob() { return new URL(location.href).searchParams.get("job"); }

export function dropZone(zone, onFiles) {
  const input = $("input[type=file]", zone);
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
  input.addEventListener("change", () => { if (input.files.length) onFiles(Array.from(input.files)); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) onFiles(Array.from(e.dataTransfer.files));
  });
  // Files chosen before the page's script was ready (a fast user, or a test) still count.
  if (input.files.length) onFiles(Array.from(input.files));
}

export function fileUrl(jobId, path, download = false) {
  const enc = path.split("/").map(encodeURIComponent).join("/");
  return `/api/jobs/${jobId}/files/${enc}${download ? "?download=1" : ""}`;
}

export function fmt(v, digits = 1, unit = "") {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  return `${Number(v).toFixed(digits)}${unit ? " " + unit : ""}`;
}
export function fmtTime(s) {
  if (!Number.isFinite(s)) return "0:00";
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// ---------------------------------------------------------------- canvas drawing
export function sizeCanvas(canvas, cssWidth = null) {
  const ratio = window.devicePixelRatio || 1;
  const w = cssWidth || canvas.clientWidth || 600;
  const h = canvas.clientHeight || 120;
  if (cssWidth) canvas.style.width = `${cssWidth}px`;
  canvas.width = Math.round(w * ratio);
  canvas.height = Math.round(h * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { g, w, h };
}

export function drawWave(canvas, wave, color = "#59b7e8", cursorFrac = null) {
  const { g, w, h } = sizeCanvas(canvas);
  g.clearRect(0, 0, w, h);
  const n = wave.max.length;
  const mid = h / 2;
  g.fillStyle = color;
  for (let x = 0; x < w; x++) {
    const i0 = Math.floor((x / w) * n);
    const i1 = Math.max(i0 + 1, Math.floor(((x + 1) / w) * n));
    let lo = 1, hi = -1;
    for (let i = i0; i < i1 && i < n; i++) { lo = Math.min(lo, wave.min[i]); hi = Math.max(hi, wave.max[i]); }
    if (hi < lo) continue;
    g.fillRect(x, mid - hi * mid, 1, Math.max(1, (hi - lo) * mid));
  }
  g.strokeStyle = "#2f3b48";
  g.beginPath(); g.moveTo(0, mid); g.lineTo(w, mid); g.stroke();
  canvas.dataset.drawn = String(n);
  if (cursorFrac !== null) {
    g.fillStyle = "#f2b84b";
    g.fillRect(Math.round(cursorFrac * w), 0, 2, h);
  }
}

// Several series on shared axes. series: [{x:[], y:[], color, label}], opts: {xmin,xmax,ymin,ymax,logx,xlabel,ylabel}
export function drawCurves(canvas, series, opts) {
  const { g, w, h } = sizeCanvas(canvas);
  const pad = { l: 44, r: 10, t: 10, b: 22 };
  const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
  const tx = (x) => pad.l + pw * (opts.logx ? Math.log(x / opts.xmin) / Math.log(opts.xmax / opts.xmin) : (x - opts.xmin) / (opts.xmax - opts.xmin));
  const ty = (y) => pad.t + ph * (1 - (y - opts.ymin) / (opts.ymax - opts.ymin));
  g.clearRect(0, 0, w, h);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#93a1b0"; g.strokeStyle = "#243040"; g.lineWidth = 1;
  for (const y of opts.yticks || []) {
    g.beginPath(); g.moveTo(pad.l, ty(y)); g.lineTo(w - pad.r, ty(y)); g.stroke();
    g.fillText(String(y), 4, ty(y) + 4);
  }
  for (const x of opts.xticks || []) {
    g.beginPath(); g.moveTo(tx(x), pad.t); g.lineTo(tx(x), h - pad.b); g.stroke();
    g.fillText(opts.xfmt ? opts.xfmt(x) : String(x), tx(x) - 10, h - 6);
  }
  let drawn = 0;
  for (const s of series) {
    g.strokeStyle = s.color; g.lineWidth = s.width || 1.6;
    g.setLineDash(s.dash || []);
    g.beginPath();
    let started = false;
    for (let i = 0; i < s.y.length; i++) {
      const x = s.x[i], y = s.y[i];
      if (y === null || y === undefined || !Number.isFinite(y) || y < opts.ymin - 50) { started = false; continue; }
      const px = tx(x), py = ty(Math.max(opts.ymin, Math.min(opts.ymax, y)));
      if (!started) { g.moveTo(px, py); started = true; } else g.lineTo(px, py);
      drawn++;
    }
    g.stroke();
  }
  g.setLineDash([]);
  canvas.dataset.drawn = String(drawn);
}

export function legend(container, items) {
  container.replaceChildren(...items.map(([label, color]) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = color; // CSSOM, not a style attribute: allowed by the page's CSP
    return el("span", {}, swatch, label);
  }));
}

export function markNav() {
  const here = location.pathname.replace(/\/$/, "") || "/";
  for (const a of $$("header.bar nav a")) if (a.getAttribute("href") === here) a.classList.add("here");
}
markNav();
