// Home: the pages, and the most recent work.
import { $, api, el } from "./studio.js";

const PAGE = { master: "/master", mix: "/mix", compose: "/compose", produce: "/compose", hum: "/hum", discover_import: "/discover", playlist: "/discover", similar: "/discover" };

api("/api/jobs").then((doc) => {
  const recent = doc.jobs.slice(0, 8);
  if (!recent.length) return;
  $("#recent").replaceChildren(...recent.map((j) => el("li", {},
    j.state === "done" && PAGE[j.kind] ? el("a", { href: `${PAGE[j.kind]}?job=${j.id}`, text: j.title }) : el("span", { text: j.title }),
    " ", el("span", { class: `tag ${j.state}`, text: j.state }))));
}).catch(() => {});
