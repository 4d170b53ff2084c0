// Mix page: stems in, the decided console shown and editable, re-rendered from the edited settings.
import { $, api, drawWave, dropZone, el, fileUrl, fmt, jobUi, runJob, uploadAll, urlJob } from "./studio.js";

let stemFiles = [];
let roles = {};
let current = null; // the finished mix job shown
let settings = null; // its settings, as edited
let muted = new Set();
let soloed = null;
let timer = null;

async function init() {
  const opts = await api("/api/mix/options");
  roles = opts.roles;
  $("#genre").replaceChildren(...opts.genres.map((g) => el("option", { value: g, text: g })));
  dropZone($("#drop-stems"), (files) => {
    stemFiles = files;
    $("#stem-names").textContent = files.map((f) => f.name).join(", ");
    $("#start").disabled = false;
  });
  $("#start").addEventListener("click", start);
  $("#redecide").addEventListener("click", redecide);
  $("#apply").addEventListener("click", () => rerender());
  const id = urlJob();
  if (id) {
    const job = await api(`/api/jobs/${id}`).catch(() => null);
    if (job && job.kind === "mix") {
      if (job.state === "done") show(job);
      else if (!["failed", "cancelled"].includes(job.state)) follow({ job });
    }
  }
}

async function follow(started) {
  const job = await runJob(started, jobUi($("#setup")));
  if (job.state === "done") show(job);
  return job;
}

async function start() {
  const status = $("#upload-status");
  $("#start").disabled = true;
  status.classList.remove("error");
  try {
    const ups = await uploadAll(stemFiles, status);
    status.textContent = `${ups.length} file(s) uploaded`;
    await follow(await api("/api/mix", { method: "POST", body: { stems: ups.map((u) => u.id), genre: $("#genre").value, reverb: $("#reverb").checked } }));
  } catch (err) {
    status.textContent = err.message;
    status.classList.add("error");
  } finally {
    $("#start").disabled = stemFiles.length === 0;
  }
}

async function redecide() {
  const overrides = {};
  for (const s of settings.stems) overrides[s.file] = s.role;
  try {
    await follow(await api("/api/mix", { method: "POST", body: { from_job: current.id, roles: overrides, genre: $("#genre").value, reverb: $("#reverb").checked } }));
  } catch (err) { jobUi($("#setup")).status.textContent = err.message; }
}

// Mute and solo are rendered by the server: muted stems (and, with a solo, the others) are left out.
async function rerender() {
  clearTimeout(timer);
  try {
    const body = { settings, muted: [...muted], solo: soloed === null ? [] : [soloed] };
    await follow(await api(`/api/mix/${current.id}/apply`, { method: "POST", body }));
  } catch (err) { jobUi($("#setup")).status.textContent = err.message; }
}

// Edits arrive in bursts (dragging a number): re-render once they settle.
function edited() {
  if (!$("#live").checked) return;
  clearTimeout(timer);
  timer = setTimeout(rerender, 700);
}

function numberCell(value, step, onChange, min = null, max = null) {
  const input = el("input", { type: "number", step, value: value === null || value === undefined ? "" : Number(value).toFixed(step < 1 ? 2 : 0) });
  if (min !== null) input.min = min;
  if (max !== null) input.max = max;
  input.addEventListener("change", () => { onChange(input.value === "" ? null : Number(input.value)); edited(); });
  return el("td", { class: "num" }, input);
}

function show(job) {
  current = job;
  const r = job.result;
  settings = structuredClone(r.settings);
  muted = new Set(r.report.stems.filter((s) => s.muted).map((s) => s.file));
  const solo = r.report.stems.find((s) => s.soloed);
  soloed = solo ? solo.file : null;
  $("#result").classList.remove("hidden");
  $("#audio-mix").src = fileUrl(job.id, r.files.wav);
  drawWave($("#wave-mix"), r.waveform);
  const rep = r.report;
  $("#summary").textContent = `${rep.stems.length} stems · ${fmt(rep.output_loudness_lufs, 1)} LUFS, true peak ${fmt(rep.output_true_peak_dbtp, 2)} dBTP · lead: ${rep.lead || "—"} · ${rep.genre} · made in ${rep.seconds} s`;
  const byFile = Object.fromEntries(rep.stems.map((s) => [s.file, s]));
  const rows = settings.stems.map((s) => {
    const info = byFile[s.file] || {};
    const roleSel = el("select", {}, ...Object.entries(roles).map(([id, name]) => el("option", { value: id, text: name, selected: id === s.role })));
    roleSel.addEventListener("change", () => { s.role = roleSel.value; s.role_source = "user"; });
    const eqText = el("input", { type: "text", value: s.eq.map((b) => `${Math.round(b.freq_hz)}/${b.gain_db}`).join(" "), size: 16, title: "bells as Hz/dB (Q kept), space-separated" });
    eqText.addEventListener("change", () => {
      const bands = eqText.value.trim() ? eqText.value.trim().split(/\s+/).map((t) => t.split("/").map(Number)) : [];
      s.eq = bands.filter(([f, g]) => Number.isFinite(f) && Number.isFinite(g)).map(([f, g], k) => ({ freq_hz: f, gain_db: g, q: (s.eq[k] && s.eq[k].q) || 2.0 }));
      edited();
    });
    const mute = el("button", { type: "button", class: `small${muted.has(s.file) ? " on" : ""}`, text: "M", title: "mute" });
    mute.addEventListener("click", () => { muted.has(s.file) ? muted.delete(s.file) : muted.add(s.file); mute.classList.toggle("on"); edited(); });
    const solo = el("button", { type: "button", class: `small${soloed === s.file ? " on" : ""}`, text: "S", title: "solo", "data-file": s.file });
    solo.addEventListener("click", () => {
      soloed = soloed === s.file ? null : s.file;
      for (const b of document.querySelectorAll("#console button[data-file]")) b.classList.toggle("on", b.dataset.file === soloed);
      edited();
    });
    const comp = s.compressor;
    return el("tr", {},
      el("td", { text: s.file + (rep.lead === s.file ? " ★" : "") }),
      el("td", {}, roleSel),
      el("td", { class: "num", text: fmt(info.role_confidence, 2) }),
      numberCell(s.gain_db, 0.5, (v) => { s.gain_db = v ?? 0; }, -120, 60),
      numberCell(s.pan, 0.05, (v) => { s.pan = v ?? 0; }, -1, 1),
      numberCell(s.hpf_hz, 1, (v) => { s.hpf_hz = v; }, 5, 20000),
      el("td", {}, eqText),
      numberCell(comp ? comp.threshold_db : null, 0.5, (v) => {
        if (v === null) s.compressor = null;
        else s.compressor = { ...(s.compressor || { ratio: 3, attack_ms: 10, release_ms: 120 }), threshold_db: v };
      }, -100, 0),
      numberCell(comp ? comp.ratio : null, 0.1, (v) => { if (s.compressor && v !== null) s.compressor.ratio = v; }, 1, 100),
      numberCell(s.reverb_send_db, 0.5, (v) => { s.reverb_send_db = v; }, -120, 12),
      el("td", {}, mute), el("td", {}, solo));
  });
  $("#console tbody").replaceChildren(...rows);
  $("#downloads").replaceChildren(
    el("a", { href: fileUrl(job.id, r.files.wav, true), download: "mix.wav", id: "dl-mix", text: "Mix WAV (24-bit)" }),
    el("a", { href: fileUrl(job.id, r.files.settings, true), download: "settings.json", text: "Settings (JSON, for tunesmith mix --apply)" }));
  $("#notes").replaceChildren(...rep.warnings.map((w) => el("li", { class: "warn", text: `warning: ${w}` })), ...rep.notes.map((n) => el("li", { class: "why", text: n })));
}

init();
