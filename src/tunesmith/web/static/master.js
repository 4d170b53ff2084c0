// Master page: upload, options, progress, then the A/B player, waveforms, meters, spectrum, downloads.
import { $, $$, api, drawCurves, drawWave, dropZone, el, fileUrl, fmt, fmtTime, jobUi, legend, runJob, uploadAll, urlJob } from "./studio.js";

let mixFile = null;
let refFiles = [];
let player = null;

async function init() {
  const opts = await api("/api/master/options");
  $("#target").replaceChildren(...opts.targets.map((t) =>
    el("option", { value: t.name, text: `${t.name} (${t.integrated_lufs} LUFS, ${t.ceiling_dbtp} dBTP)` })));
  $("#style").replaceChildren(...opts.styles.map((s) => el("option", { value: s, text: s })));
  for (const id of ["intensity", "width"]) {
    $(`#${id}`).addEventListener("input", (e) => { $(`#${id}-out`).textContent = Number(e.target.value).toFixed(2); });
  }
  dropZone($("#drop-mix"), (files) => {
    mixFile = files[0];
    $("#mix-name").textContent = `${mixFile.name} · ${(mixFile.size / 1e6).toFixed(1)} MB`;
    $("#start").disabled = false;
  });
  dropZone($("#drop-ref"), (files) => {
    refFiles = files;
    $("#ref-names").textContent = files.map((f) => f.name).join(", ");
  });
  $("#start").addEventListener("click", start);
  const id = urlJob();
  if (id) {
    const job = await api(`/api/jobs/${id}`).catch(() => null);
    if (job && job.kind === "master") {
      if (job.state === "done") show(job);
      else if (!["failed", "cancelled"].includes(job.state)) show(await runJob({ job }, jobUi($("#setup"))));
    }
  }
}

async function start() {
  const status = $("#upload-status");
  $("#start").disabled = true;
  status.classList.remove("error");
  try {
    const [mix, ...refs] = await uploadAll([mixFile, ...refFiles], status);
    status.textContent = "uploaded";
    const lufs = $("#lufs").value.trim();
    const body = {
      upload: mix.id,
      references: refs.map((r) => r.id),
      target: lufs ? lufs : (refs.length ? null : $("#target").value),
      style: $("#style").value,
      intensity: Number($("#intensity").value),
      width: Number($("#width").value),
      formats: $$(".fmt").filter((c) => c.checked).map((c) => c.value),
    };
    const started = await api("/api/master", { method: "POST", body });
    const job = await runJob(started, jobUi($("#setup")));
    if (job.state === "done") show(job);
  } catch (err) {
    status.textContent = err.message;
    status.classList.add("error");
  } finally {
    $("#start").disabled = !mixFile;
  }
}

// ------------------------------------------------------------------ the A/B player
// Both files play all the time through Web Audio; switching A/B only moves two gains (a 15 ms
// crossfade), so there is never a gap. Each gain includes the loudness match from the report.
class ABPlayer {
  constructor(a, b, matchDb) {
    this.a = a; this.b = b; this.match = matchDb; this.which = "master"; this.ctx = null;
  }
  ensureGraph() {
    if (this.ctx) return;
    this.ctx = new AudioContext();
    this.ga = this.ctx.createGain();
    this.gb = this.ctx.createGain();
    this.ctx.createMediaElementSource(this.a).connect(this.ga).connect(this.ctx.destination);
    this.ctx.createMediaElementSource(this.b).connect(this.gb).connect(this.ctx.destination);
    this.apply(0);
  }
  gainOf(which) { return Math.pow(10, (which === "master" ? this.match.master_db : this.match.original_db) / 20); }
  apply(rampS = 0.015) {
    const t = this.ctx.currentTime;
    for (const [node, who] of [[this.ga, "original"], [this.gb, "master"]]) {
      const target = who === this.which ? this.gainOf(who) : 0;
      node.gain.cancelScheduledValues(t);
      node.gain.setValueAtTime(node.gain.value, t);
      node.gain.linearRampToValueAtTime(target, t + rampS);
    }
  }
  select(which) { this.which = which; if (this.ctx) this.apply(); }
  get playing() { return !this.b.paused; }
  async play() {
    this.ensureGraph();
    await this.ctx.resume();
    this.a.currentTime = this.b.currentTime;
    await Promise.all([this.a.play(), this.b.play()]);
  }
  pause() { this.a.pause(); this.b.pause(); }
  seek(t) { this.a.currentTime = t; this.b.currentTime = t; }
  // The two elements can drift apart by a few ms; pull the original back under the master.
  keepInSync() { if (this.playing && Math.abs(this.a.currentTime - this.b.currentTime) > 0.04) this.a.currentTime = this.b.currentTime; }
}

function show(job) {
  const r = job.result;
  const id = job.id;
  $("#result").classList.remove("hidden");
  const a = $("#audio-original"), b = $("#audio-master");
  a.src = fileUrl(id, r.playback.original);
  b.src = fileUrl(id, r.playback.master);
  player = new ABPlayer(a, b, r.match);
  $("#match-note").textContent = Number.isFinite(r.match.matched_lufs)
    ? `Both play at ${r.match.matched_lufs} LUFS (original ${r.match.original_db >= 0 ? "+" : ""}${r.match.original_db} dB, master ${r.match.master_db} dB), so you hear what mastering changed, not just that it is louder.`
    : "";
  $("#play").onclick = async () => {
    if (player.playing) { player.pause(); $("#play").textContent = "Play"; }
    else { await player.play(); $("#play").textContent = "Pause"; }
  };
  const pick = (which) => {
    player.select(which);
    $("#pick-original").classList.toggle("on", which === "original");
    $("#pick-master").classList.toggle("on", which === "master");
  };
  $("#pick-original").onclick = () => pick("original");
  $("#pick-master").onclick = () => pick("master");
  $("#seek").oninput = (e) => { if (b.duration) player.seek((e.target.value / 1000) * b.duration); };
  b.onended = () => { $("#play").textContent = "Play"; };
  const waves = () => {
    const frac = b.duration ? b.currentTime / b.duration : null;
    drawWave($("#wave-original"), r.waveforms.original, "#8e9aa8", frac);
    drawWave($("#wave-master"), r.waveforms.master, "#59b7e8", frac);
  };
  waves();
  for (const [canvas] of [[$("#wave-original")], [$("#wave-master")]]) {
    canvas.onclick = (e) => { if (b.duration) player.seek((e.offsetX / canvas.clientWidth) * b.duration); };
  }
  let lastDraw = 0;
  const tick = (now) => {
    if (!document.body.contains(b)) return;
    player.keepInSync();
    if (b.duration) {
      $("#time").textContent = `${fmtTime(b.currentTime)} / ${fmtTime(b.duration)}`;
      if (document.activeElement !== $("#seek")) $("#seek").value = Math.round((b.currentTime / b.duration) * 1000);
      if (player.playing && now - lastDraw > 100) { waves(); lastDraw = now; }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  meters(r);
  curves(r);
  downloads(id, r);
  window.onresize = () => { waves(); curves(r); };
}

function meter(name, value, sub, frac) {
  const gauge = el("div", { class: "gauge" }, el("i"));
  gauge.firstChild.style.width = `${Math.max(0, Math.min(1, frac)) * 100}%`;
  return el("div", { class: "meter" }, el("div", { class: "name", text: name }), el("div", { class: "value", text: value }),
    el("div", { class: "sub", text: sub }), gauge);
}

function meters(r) {
  const i = r.report.input_loudness, o = r.report.output_loudness, t = r.target;
  const lufsFrac = (v) => (v === null ? 0 : (v + 40) / 40);
  const tpFrac = (v) => (v === null ? 0 : (v + 20) / 20);
  $("#meters").replaceChildren(
    meter("Integrated (master)", fmt(o.integrated_lufs, 1, "LUFS"), `original ${fmt(i.integrated_lufs, 1)} · target ${t.integrated_lufs}`, lufsFrac(o.integrated_lufs)),
    meter("True peak (master)", fmt(o.true_peak_dbtp, 2, "dBTP"), `original ${fmt(i.true_peak_dbtp, 2)} · ceiling ${t.ceiling_dbtp}`, tpFrac(o.true_peak_dbtp)),
    meter("Short-term max", fmt(o.short_term_max_lufs, 1, "LUFS"), `original ${fmt(i.short_term_max_lufs, 1)}`, lufsFrac(o.short_term_max_lufs)),
    meter("Loudness range", fmt(o.loudness_range_lu, 1, "LU"), `original ${fmt(i.loudness_range_lu, 1)}`, (o.loudness_range_lu || 0) / 20),
    meter("PLR", fmt(o.plr_db, 1, "dB"), `original ${fmt(i.plr_db, 1)}`, (o.plr_db || 0) / 20),
    meter("Limiter (max)", fmt(r.report.limiter_reduction_db.max, 1, "dB"), `glue max ${fmt(r.report.glue_reduction_db.max, 1)} dB`, r.report.limiter_reduction_db.max / 10),
  );
}

function curves(r) {
  const st = r.series;
  const n = Math.max(st.input_short_term_lufs.length, st.output_short_term_lufs.length);
  const xs = Array.from({ length: n }, (_, k) => k / 10);
  const dur = Math.max(1, n / 10);
  const target = r.target.integrated_lufs;
  legend($("#st-legend"), [["original", "#8e9aa8"], ["master", "#59b7e8"], ["target", "#f2b84b"]]);
  drawCurves($("#short-term"), [
    { x: xs, y: st.input_short_term_lufs, color: "#8e9aa8" },
    { x: xs, y: st.output_short_term_lufs, color: "#59b7e8" },
    { x: [0, dur], y: [target, target], color: "#f2b84b", dash: [5, 4], width: 1 },
  ], { xmin: 0, xmax: dur, ymin: -40, ymax: 0, yticks: [-40, -30, -20, -10, 0], xticks: ticks(dur), xfmt: fmtTime });
  // Third-octave levels, each curve level-matched over 80 Hz–10 kHz (as in the HTML report), so
  // the picture shows tonal balance, not loudness.
  const sp = r.spectra;
  const hz = sp.centres_hz;
  const norm = (levels) => {
    const sel = levels.filter((v, i) => hz[i] >= 80 && hz[i] <= 10000 && v > -119);
    const mean = sel.length ? sel.reduce((a, b) => a + b, 0) / sel.length : 0;
    return levels.map((v) => (v > -119 ? v - mean : null));
  };
  const series = [
    { x: hz, y: norm(sp.input_mid_db), color: "#8e9aa8" },
    { x: hz, y: norm(sp.target_mid_db), color: "#f2b84b", dash: [5, 4] },
  ];
  const items = [["before", "#8e9aa8"], ["target", "#f2b84b"]];
  if (sp.output_mid_db) { series.push({ x: hz, y: norm(sp.output_mid_db), color: "#59b7e8" }); items.push(["after", "#59b7e8"]); }
  legend($("#sp-legend"), items);
  drawCurves($("#spectrum"), series, {
    xmin: 20, xmax: 20000, logx: true, ymin: -30, ymax: 15,
    yticks: [-30, -20, -10, 0, 10], xticks: [50, 100, 200, 500, 1000, 2000, 5000, 10000],
    xfmt: (x) => (x >= 1000 ? `${x / 1000}k` : String(x)),
  });
}

function ticks(dur) {
  const step = dur > 600 ? 120 : dur > 240 ? 60 : dur > 60 ? 30 : 10;
  const out = [];
  for (let t = 0; t <= dur; t += step) out.push(t);
  return out;
}

function downloads(id, r) {
  const names = { wav: "Master WAV (24-bit)", flac: "Master FLAC", mp3: "Master MP3 (320 kbit/s)", report: "Report (HTML)" };
  $("#downloads").replaceChildren(...Object.entries(r.files).map(([kind, path]) =>
    el("a", { href: fileUrl(id, path, kind !== "report"), download: kind === "report" ? null : path, target: kind === "report" ? "_blank" : null, id: `dl-${kind}`, text: names[kind] || path })));
  const notes = [...r.report.warnings.map((w) => ["warn", `warning: ${w}`]), ...r.report.notes.map((n) => ["why", n])];
  $("#notes").replaceChildren(...notes.map(([cls, text]) => el("li", { class: cls, text })));
}

init();
