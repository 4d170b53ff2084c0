// Jobs page: every job with its state and live progress; open, cancel, delete.
import { $, api, el } from "./studio.js";

const PAGE = { master: "/master", mix: "/mix", compose: "/compose", produce: "/compose", hum: "/hum", discover_import: "/discover", playlist: "/discover", similar: "/discover" };

function seconds(job) {
  if (!job.started) return "";
  const end = job.finished ? Date.parse(job.finished) : Date.now();
  return `${((end - Date.parse(job.started)) / 1000).toFixed(1)} s`;
}

async function refresh() {
  let doc;
  try { doc = await api("/api/jobs"); } catch { return; }
  const rows = doc.jobs.map((j) => {
    const actions = [];
    if (PAGE[j.kind] && j.state === "done") actions.push(el("a", { href: `${PAGE[j.kind]}?job=${j.id}`, text: "open" }));
    if (["queued", "running"].includes(j.state)) {
      const b = el("button", { type: "button", class: "small", text: "cancel" });
      b.addEventListener("click", () => api(`/api/jobs/${j.id}/cancel`, { method: "POST" }).then(refresh));
      actions.push(b);
    } else {
      const b = el("button", { type: "button", class: "small", text: "delete" });
      b.addEventListener("click", () => api(`/api/jobs/${j.id}`, { method: "DELETE" }).then(refresh));
      actions.push(b);
    }
    const bar = el("progress", { max: 1, value: j.progress || 0 });
    return el("tr", { "data-id": j.id },
      el("td", {}, el("div", { text: j.title }), j.error ? el("div", { class: "error", text: j.error }) : null, j.note ? el("div", { class: "why", text: j.note }) : null),
      el("td", { text: j.kind }),
      el("td", {}, el("span", { class: `tag ${j.state}`, text: j.state })),
      el("td", {}, bar, el("div", { class: "why", text: j.stage || "" })),
      el("td", { text: j.started ? new Date(j.started).toLocaleString() : "" }),
      el("td", { class: "num", text: seconds(j) }),
      el("td", {}, ...actions.flatMap((a) => [a, " "])));
  });
  $("#jobs tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 7, class: "why", text: "No jobs yet." }))]));
  const busy = doc.jobs.some((j) => ["queued", "running"].includes(j.state));
  setTimeout(refresh, busy ? 500 : 3000);
}

refresh();
