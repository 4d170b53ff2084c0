// Discover page: import a listening history, a playlist with reasons, "more like this".
import { $, api, dropZone, el, fileUrl, jobUi, runJob, uploadFile, urlJob } from "./studio.js";

let historyFile = null;

async function users(selected = null) {
  const doc = await api("/api/discover/users");
  $("#user").replaceChildren(...doc.users.map((u) => el("option", { value: u, text: u, selected: u === selected })));
  $("#make").disabled = doc.users.length === 0;
}

async function init() {
  await users();
  dropZone($("#drop-history"), (files) => {
    historyFile = files[0];
    $("#history-name").textContent = historyFile.name;
    $("#import").disabled = false;
  });
  $("#diversity").addEventListener("input", (e) => { $("#div-out").textContent = Number(e.target.value).toFixed(2); });
  $("#import").addEventListener("click", importHistory);
  $("#make").addEventListener("click", playlist);
  const id = urlJob();
  if (id) {
    const job = await api(`/api/jobs/${id}`).catch(() => null);
    if (job && job.state === "done") {
      if (job.kind === "playlist") showPlaylist(job);
      if (job.kind === "similar") showSimilar(job);
      if (job.kind === "discover_import") showImport(job);
    }
  }
}

async function importHistory() {
  const status = $("#upload-status");
  $("#import").disabled = true;
  try {
    const up = await uploadFile(historyFile, (f) => { status.textContent = `uploading ${Math.round(f * 100)} %`; });
    status.textContent = "uploaded";
    const body = { upload: up.id, format: $("#format").value, user: $("#import-user").value.trim() || null };
    const job = await runJob(await api("/api/discover/import", { method: "POST", body }), jobUi($("#import-job")));
    if (job.state === "done") showImport(job);
  } catch (err) { status.textContent = err.message; status.classList.add("error"); }
  finally { $("#import").disabled = !historyFile; }
}

function showImport(job) {
  const imp = job.result.import;
  $("#import-summary").textContent = `${imp.file} (${imp.format}): ${imp.rows} rows, ${imp.added} added, ${imp.duplicates} already there · ${imp.users} users, ${imp.items} items`;
  const names = job.result.users;
  users(names.length === 1 ? names[0] : null);
}

async function playlist() {
  const body = {
    user: $("#user").value, n: Number($("#n").value), diversity: Number($("#diversity").value),
    per_artist: $("#per-artist").value ? Number($("#per-artist").value) : null,
  };
  try {
    const job = await runJob(await api("/api/discover/playlist", { method: "POST", body }), jobUi($("#playlist-job")));
    if (job.state === "done") showPlaylist(job);
  } catch (err) { const ui = jobUi($("#playlist-job")); ui.box.classList.remove("hidden"); ui.status.textContent = err.message; }
}

function showPlaylist(job) {
  const pl = job.result.playlist;
  $("#playlist").replaceChildren(...pl.entries.map((e) => {
    const more = el("button", { type: "button", class: "small", text: "more like this" });
    more.addEventListener("click", () => similar(e.item, e.label));
    return el("li", {}, el("span", { text: `${e.label} ` }), el("span", { class: "tag", text: e.source }), " ", more,
      el("div", { class: "why", text: e.explanation }));
  }));
  $("#downloads").replaceChildren(
    el("a", { href: fileUrl(job.id, job.result.files.m3u8, true), download: "playlist.m3u8", text: "Playlist (M3U8)" }),
    el("a", { href: fileUrl(job.id, job.result.files.json, true), download: "playlist.json", text: "Playlist (JSON)" }));
}

async function similar(item, label) {
  $("#similar-box").classList.remove("hidden");
  $("#similar-title").textContent = `More like ${label}`;
  $("#similar").replaceChildren();
  try {
    const job = await runJob(await api("/api/discover/similar", { method: "POST", body: { item, n: 10 } }), jobUi($("#similar-job")));
    if (job.state === "done") showSimilar(job);
  } catch (err) { jobUi($("#similar-job")).status.textContent = err.message; }
}

function showSimilar(job) {
  $("#similar-box").classList.remove("hidden");
  $("#similar-title").textContent = `More like ${job.result.item.label}`;
  $("#similar").replaceChildren(...job.result.similar.map((r) =>
    el("li", {}, el("span", { text: `${r.label} ` }), el("span", { class: "tag", text: r.source }), el("div", { class: "why", text: r.explanation }))));
}

init();
