// Compose page: options → a song → piano roll with chords and sections; new takes; produce and play.
import { $, api, el, fileUrl, jobUi, runJob, sizeCanvas, urlJob } from "./studio.js";

const COLORS = ["#f2b84b", "#59b7e8", "#b58cf2", "#6fcf7f", "#ef8f6b", "#e86fb0", "#8fd6d0", "#c9c36a"];
let styles = [];
let current = null; // the compose/produce job shown
let hidden = new Set();

async function init() {
  const opts = await api("/api/compose/options");
  styles = opts.styles;
  $("#style").replaceChildren(...styles.map((s) => el("option", { value: s.name, text: `${s.name} — ${s.description}`, selected: s.name === "pop" })));
  $("#style").addEventListener("change", keysForStyle);
  keysForStyle();
  $("#target").replaceChildren(...opts.targets.map((t) => el("option", { value: t, text: t })));
  if (!opts.render) {
    $("#produce").disabled = true;
    $("#produce-note").textContent = "producing needs FluidSynth and a General MIDI SoundFont (make install)";
  }
  $("#start").addEventListener("click", start);
  $("#regen").addEventListener("click", regenerate);
  $("#produce").addEventListener("click", produce);
  const id = urlJob();
  if (id) {
    const job = await api(`/api/jobs/${id}`).catch(() => null);
    if (job && ["compose", "produce"].includes(job.kind)) {
      const ui = jobUi(job.kind === "produce" ? $("#produce-job") : $("#setup"));
      show(job.state === "done" ? job : await runJob({ job }, ui));
    }
  }
}

function keysForStyle() {
  const s = styles.find((x) => x.name === $("#style").value);
  const keys = s ? s.keys : [];
  $("#key").replaceChildren(el("option", { value: "", text: "(the style's choice)" }), ...keys.map((k) => el("option", { value: k, text: k })));
  $("#tempo").placeholder = s ? `${s.tempo_bpm.default} (${s.tempo_bpm.min}–${s.tempo_bpm.max})` : "";
}

const numberOrNull = (v) => (v.trim() === "" ? null : Number(v));

async function start() {
  const ui = jobUi($("#setup"));
  $("#start").disabled = true;
  try {
    const body = {
      style: $("#style").value, key: $("#key").value || null, tempo: numberOrNull($("#tempo").value),
      bars: numberOrNull($("#bars").value), structure: $("#structure").value.trim() || null,
      seed: numberOrNull($("#seed").value), melody: $("#melody").value,
    };
    const job = await runJob(await api("/api/compose", { method: "POST", body }), ui);
    if (job.state === "done") show(job);
  } catch (err) {
    ui.box.classList.remove("hidden");
    ui.status.textContent = err.message;
    ui.status.classList.add("error");
  } finally {
    $("#start").disabled = false;
  }
}

async function regenerate() {
  const ui = jobUi($("#setup"));
  const [kind, value] = $("#regen-what").value.split(":");
  const body = { seed: numberOrNull($("#regen-seed").value) };
  if (kind === "section") body.section = Number(value); else body.track = value;
  try {
    const job = await runJob(await api(`/api/compose/${current.id}/regenerate`, { method: "POST", body }), ui);
    if (job.state === "done") show(job);
  } catch (err) { ui.box.classList.remove("hidden"); ui.status.textContent = err.message; }
}

async function produce() {
  const ui = jobUi($("#produce-job"));
  $("#produce").disabled = true;
  try {
    const job = await runJob(await api(`/api/compose/${current.id}/produce`, { method: "POST", body: { target: $("#target").value } }), ui);
    if (job.state === "done") show(job);
  } catch (err) { ui.box.classList.remove("hidden"); ui.status.textContent = err.message; }
  finally { $("#produce").disabled = false; }
}

function show(job) {
  if (!job || job.state !== "done") return;
  current = job;
  const r = job.result;
  const song = r.song, view = r.view;
  $("#result").classList.remove("hidden");
  $("#song-title").textContent = view.title || "Song";
  const edits = song.edits && song.edits.length ? ` · ${song.edits.length} regeneration(s)` : "";
  $("#song-summary").textContent = `${song.style} in ${song.key}, ${song.tempo_bpm} BPM, ${song.metre}, ${song.bars} bars (${song.duration_s.toFixed(1)} s), seed ${song.seed}${edits}. AI-generated: composed by tunesmith.`;
  hidden = new Set();
  trackLegend(view);
  drawRoll(view);
  $("#regen-what").replaceChildren(
    ...view.sections.map((s, i) => el("option", { value: `section:${i}`, text: `section ${i + 1}: ${s.name} (${s.bars} bars)` })),
    ...view.tracks.map((t) => el("option", { value: `track:${t.name}`, text: `track: ${t.name}` })));
  const files = r.files;
  const links = [
    el("a", { href: fileUrl(job.id, files.midi, true), download: "song.mid", id: "dl-midi", text: "MIDI" }),
    el("a", { href: fileUrl(job.id, files.musicxml, true), download: "leadsheet.musicxml", id: "dl-musicxml", text: "MusicXML lead sheet" }),
  ];
  if (job.kind === "produce") {
    links.push(
      el("a", { href: fileUrl(job.id, files.stems_zip, true), download: "stems.zip", text: "Stems (zip)" }),
      el("a", { href: fileUrl(job.id, files.mix, true), download: "mix.wav", text: "Mix WAV" }),
      el("a", { href: fileUrl(job.id, files.master_wav, true), download: "master.wav", id: "dl-master", text: "Master WAV" }),
      el("a", { href: fileUrl(job.id, files.master_mp3, true), download: "master.mp3", text: "Master MP3" }));
    $("#players").classList.remove("hidden");
    $("#audio-master").src = fileUrl(job.id, files.master_wav);
    $("#audio-mix").src = fileUrl(job.id, files.mix);
    $("#stem-players").replaceChildren(...r.stem_tracks.map((s) =>
      el("div", {}, el("div", { class: "why", text: `Stem: ${s.track} (${s.role})` }), el("audio", { controls: true, preload: "none", src: fileUrl(job.id, s.stem) }))));
  } else {
    $("#players").classList.add("hidden");
  }
  $("#downloads").replaceChildren(...links);
}

function trackLegend(view) {
  const box = $("#tracks");
  box.replaceChildren(...view.tracks.map((t, i) => {
    const cb = el("input", { type: "checkbox", checked: true });
    cb.addEventListener("change", () => { cb.checked ? hidden.delete(t.name) : hidden.add(t.name); drawRoll(view); });
    const sw = el("span", { class: "swatch" });
    sw.style.background = COLORS[i % COLORS.length];
    return el("label", {}, el("span", { class: "row" }, cb, sw, `${t.name}${t.drums ? " (drums)" : ""} · ${t.notes.length}`));
  }));
}

// The piano roll: sections on top, chord symbols under them, then pitch × beats; drums in a lane.
function drawRoll(view) {
  const canvas = $("#roll");
  const pxBeat = Math.max(14, Math.min(40, 1400 / Math.max(1, view.end_beats)));
  const width = Math.ceil(view.end_beats * pxBeat) + 40;
  const pitched = view.tracks.filter((t) => !t.drums).flatMap((t) => t.notes.map((n) => n[2]));
  const lo = pitched.length ? Math.min(...pitched) - 2 : 48, hi = pitched.length ? Math.max(...pitched) + 2 : 84;
  const rowH = Math.max(3, Math.min(8, 300 / (hi - lo + 1)));
  const hasDrums = view.tracks.some((t) => t.drums && t.notes.length);
  const top = 44, drumH = hasDrums ? 40 : 0;
  canvas.style.height = `${top + (hi - lo + 1) * rowH + drumH + 8}px`;
  const { g, h } = sizeCanvas(canvas, width);
  const x = (beat) => 30 + beat * pxBeat;
  g.fillStyle = "#0d1217"; g.fillRect(0, 0, width, h);
  // Bars, and black-key rows.
  for (let p = lo; p <= hi; p++) {
    if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) { g.fillStyle = "#121a22"; g.fillRect(30, top + (hi - p) * rowH, width, rowH); }
    if (p % 12 === 0) { g.fillStyle = "#93a1b0"; g.font = "10px system-ui"; g.fillText(`C${p / 12 - 1}`, 2, top + (hi - p + 1) * rowH); }
  }
  g.strokeStyle = "#243040";
  for (let b = 0; b <= view.end_beats; b += view.bar_beats) { g.beginPath(); g.moveTo(x(b), 22); g.lineTo(x(b), h); g.stroke(); }
  // Sections.
  g.font = "12px system-ui";
  view.sections.forEach((s, i) => {
    g.fillStyle = i % 2 ? "#233142" : "#2b3a4d"; g.fillRect(x(s.start), 0, (s.end - s.start) * pxBeat, 20);
    g.fillStyle = "#e6ebf0"; g.fillText(`${s.name}`, x(s.start) + 4, 14);
  });
  // Chord symbols.
  g.fillStyle = "#f2b84b"; g.font = "11px system-ui";
  let lastEnd = -1;
  for (const [start, , symbol] of view.chords) {
    if (x(start) < lastEnd) continue;
    g.fillText(symbol, x(start) + 2, 36);
    lastEnd = x(start) + g.measureText(symbol).width + 6;
  }
  let drawn = 0;
  view.tracks.forEach((t, i) => {
    if (hidden.has(t.name)) return;
    g.fillStyle = COLORS[i % COLORS.length];
    for (const [start, dur, pitch, vel] of t.notes) {
      g.globalAlpha = 0.45 + 0.55 * (vel / 127);
      if (t.drums) {
        const lane = top + (hi - lo + 1) * rowH + 4 + ((pitch - 35) % 8) * 4.5;
        g.fillRect(x(start), lane, 3, 3.5);
      } else {
        g.fillRect(x(start), top + (hi - pitch) * rowH, Math.max(2, dur * pxBeat - 1), rowH - 0.5);
      }
      drawn++;
    }
  });
  g.globalAlpha = 1;
  canvas.dataset.notes = String(drawn);
  canvas.dataset.chords = String(view.chords.length);
  canvas.dataset.sections = String(view.sections.length);
}

init();
