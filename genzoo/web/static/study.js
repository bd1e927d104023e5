// Participant pages of a genzoo study: start (join or resume) and the trial loop.
// Every answer is POSTed at once; the server stores it before replying. Network errors are retried
// until the server answers, so an answer given while the server restarts is not lost.
"use strict";
(function () {
  const data = document.body.dataset;
  const study = data.study;
  const storeKey = "genzoo-study:" + study;
  const message = (text) => { const m = document.getElementById("message") || document.getElementById("feedback"); if (m) m.textContent = text; };

  if (data.page === "start") {
    const saved = window.localStorage.getItem(storeKey);
    const button = document.getElementById("start");
    if (saved) { button.textContent = "Continue where you left off"; }
    button.addEventListener("click", async () => {
      button.disabled = true;
      if (saved) { window.location.href = "/s/" + study + "/p/" + saved; return; }
      const r = await fetch("/s/" + study + "/join", { method: "POST" });
      const j = await r.json();
      if (!r.ok) { message(j.error || "cannot start"); button.disabled = false; return; }
      window.localStorage.setItem(storeKey, j.token);
      window.location.href = j.url;
    });
    return;
  }

  const token = data.token;
  window.localStorage.setItem(storeKey, token);
  const api = "/s/" + study + "/api/" + token;
  const stage = document.getElementById("stage");
  const progress = document.getElementById("progress");
  const feedback = document.getElementById("feedback");
  const buttons = Array.from(document.querySelectorAll("[data-response]"));
  let current = null, shownAt = 0, busy = true, hideTimer = null, design = null;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const setBusy = (b) => { busy = b; buttons.forEach((x) => { x.disabled = b; }); document.body.dataset.ready = b ? "no" : "yes"; };

  async function request(url, options) {
    // retry on network failure (server down or restarting); HTTP errors are returned to the caller
    for (let attempt = 0; ; attempt++) {
      try { return await fetch(url, options); } catch (e) {
        feedback.className = ""; feedback.textContent = "Connection lost; retrying...";
        await sleep(Math.min(250 * (attempt + 1), 2000));
      }
    }
  }

  function show(state) {
    design = state.design;
    if (hideTimer) { clearTimeout(hideTimer); hideTimer = null; }
    stage.textContent = "";
    current = state.trial;
    document.body.dataset.next = String(state.next);
    if (state.done || !current) {
      progress.textContent = "All " + state.total + " trials done. Thank you!";
      document.body.dataset.done = "yes";
      setBusy(true);
      return;
    }
    if (state.closed) { progress.textContent = "This study is closed."; setBusy(true); return; }
    progress.textContent = "Trial " + (state.next + 1) + " of " + state.total + (current.practice ? " (practice)" : "");
    const slots = current.images.map((src) => {
      const slot = document.createElement("div"); slot.className = "slot";
      const img = document.createElement("img"); img.alt = ""; img.src = src; img.style.visibility = "hidden";
      slot.appendChild(img); stage.appendChild(slot); return img;
    });
    Promise.all(slots.map((img) => img.decode().catch(() => null))).then(() => {
      slots.forEach((img) => { img.style.visibility = "visible"; });
      shownAt = performance.now();
      if (state.presentation_ms > 0) {
        hideTimer = setTimeout(() => { slots.forEach((img) => { img.style.visibility = "hidden"; }); }, state.presentation_ms);
      }
      setBusy(false);
    });
  }

  async function answer(response) {
    if (busy || !current) return;
    setBusy(true);
    const body = JSON.stringify({ index: current.index, response: response, rt_ms: Math.round(performance.now() - shownAt) });
    const r = await request(api + "/answer", { method: "POST", headers: { "Content-Type": "application/json" }, body: body });
    let j = {};
    try { j = await r.json(); } catch (e) { j = {}; }
    if (r.ok) {
      feedback.className = j.feedback || "";
      feedback.textContent = j.feedback === "correct" ? "Correct." : j.feedback === "wrong" ? "Wrong." : "";
      if (j.feedback) await sleep(600);
      feedback.textContent = "";
      show(j.state);
    } else if (r.status === 409) {
      // already answered (e.g. the reply was lost when the server went down): continue from the stored state
      await load();
    } else {
      feedback.className = "wrong"; feedback.textContent = j.error || ("error " + r.status);
      if (r.status !== 403) setBusy(false);
    }
  }

  async function load() {
    const r = await request(api, {});
    const j = await r.json();
    if (!r.ok) { progress.textContent = j.error || "error"; return; }
    feedback.textContent = "";
    show(j);
  }

  buttons.forEach((b) => b.addEventListener("click", () => answer(b.dataset.response)));
  document.addEventListener("keydown", (e) => {
    const k = e.key.toLowerCase();
    const map = design === "2afc" ? { arrowleft: "left", "1": "left", arrowright: "right", "2": "right" } : { r: "real", f: "fake" };
    if (map[k]) { e.preventDefault(); answer(map[k]); }
  });
  load();
})();
