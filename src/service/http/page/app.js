// The neardup stories page: plain DOM and SVG, no framework. Every piece of article
// data is put in the page as text (textContent, createTextNode, SVG text nodes), never
// as markup, so an article cannot inject script; the server's Content-Security-Policy
// allows only this file to run in any case.
"use strict";

const PAGE = 50;
const POLL_MS = 3000;
const state = { token: sessionStorage.getItem("neardup-token") || "", shown: PAGE, next: "", timer: 0, seen: new Set(), lastPage: "" };

const $ = (id) => document.getElementById(id);

/** An element with children: strings become text nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function notice(message) {
  $("notice").textContent = message || "";
}

/** Calls the JSON API; throws an Error with the server's message on failure. */
async function api(path, options) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const response = await fetch(path, Object.assign({ headers }, options || {}));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = (body && body.error) || {};
    if (response.status === 401 || response.status === 403) $("token").focus();
    throw new Error(`${response.status} ${error.status || ""}: ${error.message || response.statusText}`);
  }
  return body;
}

function when(timestamp) {
  if (!timestamp) return "undated";
  const date = new Date(timestamp);
  return date.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

/** "2h 35m after", from two RFC 3339 times. */
function after(origin, copy) {
  if (!origin || !copy) return "time unknown";
  let minutes = Math.round((Date.parse(copy) - Date.parse(origin)) / 60000);
  const sign = minutes < 0 ? "before" : "after";
  minutes = Math.abs(minutes);
  const days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
  const parts = [];
  if (days) parts.push(days + "d");
  if (hours) parts.push(hours + "h");
  if (mins || !parts.length) parts.push(mins + "m");
  return parts.join(" ") + " " + sign;
}

const KINDS = { NEW_STORY: "origin", DUPLICATE: "duplicate", PARTIAL_COPY: "partial copy" };
const CHANGES = { LINE_KEPT: "kept", LINE_CUT: "cut", LINE_ADDED: "added", LINE_CHROME: "chrome" };

// ---- the list of stories ----

function listQuery(limit, cursor) {
  const params = new URLSearchParams({ limit: String(limit) });
  const source = $("f-source").value.trim();
  const since = $("f-since").value;
  if (source) params.set("source", source);
  if (since) params.set("since", new Date(since).toISOString());
  if (cursor) params.set("cursor", cursor);
  return "/v1/stories?" + params.toString();
}

function storyRow(story) {
  const link = el("a", { href: "#/story/" + encodeURIComponent(story.clusterId) }, story.headline || story.originId);
  const fresh = state.seen.size > 0 && !state.seen.has(story.clusterId + "@" + story.members);
  const row = el("tr", { class: fresh ? "story fresh" : "story", "data-id": story.clusterId },
    el("td", null, link),
    el("td", null, story.originSource || "—"),
    el("td", { class: "num copies" }, String(Math.max(0, story.members - 1))),
    el("td", { class: "outlets", title: story.sources.join(", ") }, `${story.sources.length}: ${story.sources.slice(0, 4).join(", ")}${story.sources.length > 4 ? ", …" : ""}`),
    el("td", null, when(story.firstPublished)),
    el("td", null, when(story.latestPublished)));
  return row;
}

async function loadList(append) {
  const limit = append ? PAGE : Math.min(Math.max(state.shown, PAGE), 1000);
  let page;
  try {
    page = await api(listQuery(limit, append ? state.next : ""));
    notice("");
  } catch (error) {
    notice(error.message);
    return;
  }
  const body = $("stories").tBodies[0];
  // A refresh that brings nothing new leaves the rows alone (no flicker, no lost
  // selection).
  const shown = JSON.stringify(page);
  if (!append && shown === state.lastPage) return;
  if (!append) {
    state.lastPage = shown;
    body.replaceChildren();
  }
  for (const story of page.stories) body.append(storyRow(story));
  state.seen = new Set(Array.from(body.rows, (r) => r.dataset.id + "@" + (Number(r.querySelector(".copies").textContent) + 1)));
  state.shown = body.rows.length;
  state.next = page.nextCursor;
  $("more").hidden = !page.nextCursor;
  $("count").textContent = `${page.matched} stories`;
  // Time to first render of the list, for benches/page_load.py (Performance API).
  if (!performance.getEntriesByName("stories-rendered").length) performance.mark("stories-rendered");
}

function poll() {
  clearInterval(state.timer);
  state.timer = setInterval(() => {
    if (!$("list-view").hidden && !document.hidden) loadList(false);
  }, POLL_MS);
}

// ---- one story ----

function timeline(story) {
  const members = [story.origin].concat(story.copies).filter(Boolean).map((t) => t.member);
  const dated = members.filter((m) => m.publishedAt).map((m) => ({ m, t: Date.parse(m.publishedAt) })).sort((a, b) => a.t - b.t);
  const box = $("timeline-box");
  box.replaceChildren();
  if (!dated.length) {
    box.append(el("p", { class: "meta" }, "No dated copies to draw."));
    return;
  }
  const outlets = [];
  for (const { m } of dated) if (!outlets.includes(m.source)) outlets.push(m.source);
  const left = 150, right = 20, top = 16, lane = 22, width = 760;
  const height = top + 40 + lane * outlets.length + 24;
  const start = dated[0].t, end = Math.max(dated[dated.length - 1].t, start + 60000);
  const x = (t) => left + ((t - start) / (end - start)) * (width - left - right);
  const chart = svg("svg", { id: "timeline", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "copies over time, by outlet" });
  // Copies so far, as a step line over the lanes.
  const stepTop = top, stepHeight = 36;
  let path = `M ${x(start)} ${stepTop + stepHeight}`;
  dated.forEach(({ t }, ix) => {
    const y = stepTop + stepHeight - ((ix + 1) / dated.length) * stepHeight;
    path += ` H ${x(t)} V ${y}`;
  });
  path += ` H ${x(end)}`;
  chart.append(svg("path", { class: "step", d: path }));
  chart.append(svg("text", { x: 4, y: stepTop + 14 }, `${dated.length} pickups`));
  outlets.forEach((source, row) => {
    const y = top + 40 + lane * row + lane / 2;
    chart.append(svg("line", { x1: left, x2: width - right, y1: y, y2: y }));
    chart.append(svg("text", { x: 4, y: y + 4 }, source.length > 22 ? source.slice(0, 21) + "…" : source || "(no outlet)"));
  });
  for (const { m, t } of dated) {
    const y = top + 40 + lane * outlets.indexOf(m.source) + lane / 2;
    const dot = svg("circle", { cx: x(t), cy: y, r: 5, class: m.id === story.originId ? "origin" : "copy" });
    dot.append(svg("title", {}, `${m.source} · ${m.id} · ${when(m.publishedAt)}`));
    chart.append(dot);
  }
  const axis = top + 40 + lane * outlets.length + 16;
  chart.append(svg("text", { x: left, y: axis }, when(new Date(start).toISOString())));
  chart.append(svg("text", { x: width - right, y: axis, "text-anchor": "end" }, `+${after(new Date(start).toISOString(), new Date(end).toISOString()).replace(" after", "")}`));
  box.append(chart);
}

function copyCard(copy, origin) {
  const m = copy.member;
  const kind = KINDS[m.kind] || m.kind;
  const card = el("article", { class: "copy", "data-id": m.id, "data-kind": m.kind },
    el("h4", null, m.source || "(no outlet)", el("span", { class: "badge " + String(m.kind).toLowerCase() }, kind)),
    el("p", { class: "meta" },
      `${m.id} · ${when(m.publishedAt)} · ${after(origin && origin.member.publishedAt, m.publishedAt)} the origin · ` +
      `Jaccard ${Number(m.jaccard).toFixed(2)} · containment ${Number(m.containment).toFixed(2)}`));
  if (copy.title) card.append(el("p", null, copy.title));
  if (copy.diff.length) {
    const list = el("ul", { class: "diff" });
    for (const line of copy.diff) list.append(el("li", { class: CHANGES[line.change] || "kept" }, line.text));
    card.append(list);
  } else {
    card.append(el("p", { class: "meta" }, copy.textKept && origin && origin.textKept ? "No lines to compare." : "Text not kept by the server (stored before it started, or evicted), so no diff."));
  }
  return card;
}

async function showStory(id) {
  $("list-view").hidden = true;
  $("story-view").hidden = false;
  $("copies").replaceChildren();
  $("story-title").textContent = "Loading…";
  let story;
  try {
    story = await api("/v1/stories/" + encodeURIComponent(id) + "/diff");
    notice("");
  } catch (error) {
    $("story-title").textContent = "";
    notice(error.message);
    return;
  }
  const origin = story.origin;
  const firstLine = origin && origin.text.split("\n").map((l) => l.trim()).find((l) => l);
  $("story-title").textContent = (origin && origin.title) || firstLine || story.originId;
  const om = origin && origin.member;
  $("story-origin").textContent = om ? `Origin: ${om.source || "(no outlet)"} · ${om.id} · ${when(om.publishedAt)} · ${story.copies.length} copies` : "";
  timeline(story);
  for (const copy of story.copies) $("copies").append(copyCard(copy, origin));
  if (!story.copies.length) $("copies").append(el("p", { class: "meta" }, "No copies yet."));
  if (story.copiesLeftOut) $("copies").append(el("p", { class: "meta" }, `${story.copiesLeftOut} later copies not shown.`));
  $("origin-text").textContent = origin && origin.textKept ? origin.text : "Not kept by the server.";
}

// ---- Check ----

async function check(event) {
  event.preventDefault();
  const text = $("check-text").value;
  const result = $("check-result");
  result.replaceChildren(el("p", { class: "meta" }, "Checking…"));
  const article = { id: "page-check-" + Date.now(), text, source: $("check-source").value.trim() };
  try {
    const v = await api("/v1/articles:check", { method: "POST", body: JSON.stringify(article) });
    const head = el("p", { id: "check-verdict", "data-kind": v.kind },
      el("strong", null, KINDS[v.kind] === "origin" ? "New story: no earlier copy" : (KINDS[v.kind] || v.kind)));
    if (v.kind !== "NEW_STORY") {
      head.append(" of ", el("a", { href: "#/story/" + encodeURIComponent(v.clusterId) }, v.clusterId),
        ` · best Jaccard ${Number(v.bestJaccard).toFixed(2)} · containment ${Number(v.bestContainment).toFixed(2)}`);
    }
    const matches = el("ul", null);
    for (const m of v.matches) matches.append(el("li", null, `${m.id} (${m.source || "no outlet"}): Jaccard ${Number(m.jaccard).toFixed(2)}, containment ${Number(m.containment).toFixed(2)}`));
    result.replaceChildren(head, matches);
  } catch (error) {
    result.replaceChildren(el("p", { id: "check-error" }, error.message));
  }
}

// ---- routing ----

function route() {
  const hash = location.hash;
  if (hash.startsWith("#/story/")) {
    showStory(decodeURIComponent(hash.slice("#/story/".length)));
  } else {
    $("story-view").hidden = true;
    $("list-view").hidden = false;
    loadList(false);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = state.token;
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("neardup-token", state.token);
    route();
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.shown = PAGE;
    state.seen = new Set();
    state.lastPage = "";
    loadList(false);
  });
  $("f-clear").addEventListener("click", () => {
    $("f-source").value = "";
    $("f-since").value = "";
    state.shown = PAGE;
    state.seen = new Set();
    state.lastPage = "";
    loadList(false);
  });
  $("more").addEventListener("click", () => loadList(true));
  $("check-form").addEventListener("submit", check);
  window.addEventListener("hashchange", route);
  route();
  poll();
});
