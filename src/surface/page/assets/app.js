// sharehook's page script: local times, copy buttons, the inbox button, and live updates
// (server-sent events from /events). Every action also works without it.
"use strict";

function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    if (el.dataset.local) continue;
    const d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) continue;
    el.textContent = d.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    el.dataset.local = "1";
  }
}

function copyButtons(root) {
  for (const b of root.querySelectorAll("button.copy[data-copy]")) {
    if (b.dataset.ready) continue;
    b.dataset.ready = "1";
    b.addEventListener("click", async () => {
      const text = b.dataset.copy;
      try {
        await navigator.clipboard.writeText(text);
      } catch (_) {
        // Over plain HTTP off loopback the clipboard API is refused: select the text instead.
        const code = b.parentElement.querySelector("code");
        if (code) window.getSelection().selectAllChildren(code);
      }
      const was = b.textContent;
      b.textContent = "Copied";
      setTimeout(() => { b.textContent = was; }, 1500);
    });
  }
}

function fillButtons() {
  for (const b of document.querySelectorAll("button[data-fill]")) {
    b.addEventListener("click", () => {
      const input = document.getElementById(b.dataset.fill);
      if (input) { input.value = b.dataset.value; input.focus(); }
    });
  }
}

// New rows go on top. With byTime (the attempts: listed newest first by the time they were
// made, across webhooks, while the live feed sends them as they are written, and a slow
// receiver's attempt is written after later ones) each goes above the first row made before it
// or at the same time (that one was written first).
function insertRows(tbody, html, keep, byTime) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const empty = tbody.querySelector("tr.empty");
  if (empty) empty.remove();
  const rows = Array.from(template.content.children);
  for (const row of byTime ? rows : rows.reverse()) {
    // Listed when the page was made and sent by the feed too.
    if (row.dataset.entry && tbody.querySelector(`tr[data-entry="${row.dataset.entry}"]`)) continue;
    row.classList.add("fresh");
    if (byTime) {
      const time = Number(row.dataset.time);
      const below = Array.from(tbody.rows).find((r) => Number(r.dataset.time) <= time);
      tbody.insertBefore(row, below || null);
    } else {
      tbody.prepend(row);
    }
  }
  while (tbody.rows.length > keep) tbody.deleteRow(tbody.rows.length - 1);
  localTimes(tbody);
  copyButtons(tbody);
}

function live(view) {
  // The activity table says the newest log entry it was made with, the inbox the newest
  // request; the feed goes on from there.
  const mark = document.querySelector("[data-after]");
  const after = mark ? "&after=" + encodeURIComponent(mark.dataset.after) : "";
  const source = new EventSource("/events?view=" + encodeURIComponent(view) + after);
  source.addEventListener("open", () => document.body.classList.add("connected"));
  // A page kept in the back/forward cache must not hold its connection: browsers allow few
  // per host over plain HTTP.
  window.addEventListener("pagehide", () => source.close());
  source.addEventListener("error", () => document.body.classList.remove("connected"));
  source.addEventListener("event", (e) => {
    const tbody = document.querySelector("#events tbody");
    if (tbody) insertRows(tbody, e.data, 25);
  });
  source.addEventListener("attempt", (e) => {
    const tbody = document.querySelector("#activity tbody");
    if (tbody) insertRows(tbody, e.data, 50, true);
  });
  source.addEventListener("request", (e) => {
    const list = document.getElementById("requests");
    if (!list) return;
    const template = document.createElement("template");
    template.innerHTML = e.data;
    const note = document.getElementById("empty-note");
    if (note) note.remove();
    for (const article of Array.from(template.content.children)) {
      if (article.id && document.getElementById(article.id)) continue;
      article.classList.add("fresh");
      list.prepend(article);
      localTimes(article);
    }
    // No more than the inbox keeps.
    const keep = Number(list.dataset.keep) || 50;
    while (list.children.length > keep) list.lastElementChild.remove();
  });
  const replace = (selector) => (e) => {
    const old = document.querySelector(selector);
    if (!old) return;
    const template = document.createElement("template");
    template.innerHTML = e.data;
    const fresh = template.content.firstElementChild;
    if (fresh) { old.replaceWith(fresh); localTimes(fresh); }
  };
  source.addEventListener("shares", replace("#share-rows"));
  source.addEventListener("webhooks", replace("#webhooks table"));
  source.addEventListener("people", replace("#people-body"));
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  copyButtons(document);
  fillButtons();
  if (document.body.dataset.live) live(document.body.dataset.live);
});
