// Hum page: record (MediaRecorder) or upload a voice; its pitch track with the notes over it; the song.
import { $, api, drawCurves, dropZone, el, fileUrl, jobUi, legend, runJob, uploadFile, urlJob } from "./studio.js";

let take = null; // a File: the recording or the dropped file
let recorder = null;

async function init() {
  const can = await api("/api/hum/options");
  const styles = (await api("/api/compose/options")).styles;
  $("#style").replaceChildren(...styles.map((s) => el("option", { value: s.name, text: s.name, selected: s.name === "pop" })));
  if (!can.notes) {
    $("#unavailable").textContent = `Not available yet: ${can.reason}.`;
    $("#setup").classList.add("hidden");
  } else if (!can.song) {
    $("#unavailable").textContent = `${can.reason}.`;
  } else {
    $("#unavailable-box").classList.add("hidden");
  }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    $("#record").disabled = true;
    $("#rec-status").textContent = "this browser cannot record here; upload a recording instead";
  }
  $("#record").addEventListener("click", record);
  $("#stop").addEventListener("click", () => recorder && recorder.stop());
  dropZone($("#drop-voice"), (files) => { setTake(files[0]); });
  $("#start").addEventListener("click", start);
  const id = urlJob();
  if (id) {
    const job = await api(`/api/jobs/${id}`).catch(() => null);
    if (job && job.kind === "hum") show(job.state === "done" ? job : await runJob({ job }, jobUi($("#setup"))));
  }
}

function setTake(file) {
  take = file;
  $("#voice-name").textContent = file.name;
  $("#take").src = URL.createObjectURL(file);
  $("#take").classList.remove("hidden");
  $("#start").disabled = false;
}

async function record() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      const type = recorder.mimeType || "audio/webm";
      const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      setTake(new File(chunks, `recording.${ext}`, { type }));
      $("#record").disabled = false; $("#stop").disabled = true;
      $("#rec-status").textContent = "recorded";
    };
    recorder.start();
    $("#record").disabled = true; $("#stop").disabled = false;
    $("#rec-status").textContent = "recording… sing or hum, then stop";
  } catch (err) {
    $("#rec-status").textContent = `cannot record: ${err.message}`;
  }
}

async function start() {
  const status = $("#upload-status");
  $("#start").disabled = true;
  try {
    const up = await uploadFile(take, (f) => { status.textContent = `uploading ${Math.round(f * 100)} %`; });
    status.textContent = "uploaded";
    const seed = $("#seed").value.trim();
    const job = await runJob(await api("/api/hum", { method: "POST", body: { upload: up.id, style: $("#style").value, seed: seed ? Number(seed) : null } }), jobUi($("#setup")));
    if (job.state === "done") show(job);
  } catch (err) {
    status.textContent = err.message;
    status.classList.add("error");
  } finally { $("#start").disabled = !take; }
}

function show(job) {
  if (!job || job.state !== "done") return;
  const r = job.result;
  $("#result").classList.remove("hidden");
  const p = r.pitch;
  const xs = p.midi.map((_, i) => i * p.frame_s);
  const ys = p.midi.map((m, i) => (p.confidence[i] !== null && p.confidence[i] >= 0.5 ? m : null));
  const pitches = [...ys.filter((v) => v !== null), ...r.notes.map((n) => n.pitch)];
  const lo = pitches.length ? Math.floor(Math.min(...pitches)) - 3 : 48, hi = pitches.length ? Math.ceil(Math.max(...pitches)) + 3 : 72;
  // Notes first, the pitch track over them, so both stay visible where they agree.
  const series = r.notes.map((n) => ({ x: [n.onset_s, n.offset_s], y: [n.pitch, n.pitch], color: "#f2b84b", width: 6 }));
  series.push({ x: xs, y: ys, color: "#59b7e8", width: 1.2 });
  legend($("#pitch-legend"), [["pitch track", "#59b7e8"], ["notes", "#f2b84b"]]);
  const yt = []; for (let m = Math.ceil(lo / 2) * 2; m <= hi; m += Math.max(2, Math.round((hi - lo) / 6))) yt.push(m);
  drawCurves($("#pitch"), series, { xmin: 0, xmax: Math.max(1, p.duration_s), ymin: lo, ymax: hi, yticks: yt, xticks: [] });
  $("#pitch").dataset.notes = String(r.notes.length);
  const t = r.transcription || {};
  const heard = t.key ? ` · ${t.key}, ${Math.round(t.tempo_bpm)} BPM, ${t.metre}, tuning ${t.tuning_cents >= 0 ? "+" : ""}${t.tuning_cents} cents` : "";
  $("#hum-summary").textContent = `${r.notes.length} notes (${p.tracker})${heard}${r.warnings.length ? " · " + r.warnings.join("; ") : ""}`;
  $("#song-note").textContent = r.song_reason ? `Not available yet: ${r.song_reason}.` : "";
  const files = Object.entries(r.files || {});
  $("#downloads").replaceChildren(...files.map(([name, path]) => el("a", { href: fileUrl(job.id, path, true), download: name, text: name })));
  const master = files.find(([name]) => name === "master.wav");
  if (master) { $("#audio-song").src = fileUrl(job.id, master[1]); $("#audio-song").classList.remove("hidden"); }
}

init();
