// genzoo explore: sample grids by seed, nearest training images of a clicked sample, latent walks and arithmetic.
"use strict";
(function () {
  const run = document.body.dataset.run;
  const info = JSON.parse(document.body.dataset.info);
  const base = "/r/" + run + "/";
  const grid = document.getElementById("grid");
  let shown = null; // parameters of the grid on screen

  const params = (form, extra) => {
    const q = new URLSearchParams();
    new FormData(form).forEach((v, k) => { if (String(v) !== "") q.set(k, String(v)); });
    Object.entries(extra || {}).forEach(([k, v]) => { if (v !== null && v !== undefined && v !== "") q.set(k, String(v)); });
    return q;
  };
  async function showImage(img, url, errorBox) {
    // fetch first so a 4xx message can be shown instead of a broken image
    const r = await fetch(url);
    if (!r.ok) { const j = await r.json().catch(() => ({})); errorBox.textContent = j.error || ("error " + r.status); errorBox.className = "error"; img.hidden = true; return false; }
    errorBox.textContent = ""; errorBox.className = "";
    img.src = URL.createObjectURL(await r.blob()); img.hidden = false; return true;
  }
  function withMessage(container) {
    let p = container.querySelector("p"); if (!p) { p = document.createElement("p"); container.appendChild(p); }
    let img = container.querySelector("img"); if (!img) { img = document.createElement("img"); img.alt = ""; container.appendChild(img); }
    return [img, p];
  }

  const gridForm = document.getElementById("grid-form");
  const gridMsg = document.createElement("p"); grid.parentNode.appendChild(gridMsg);
  gridForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = params(gridForm);
    if (await showImage(grid, base + "grid.png?" + q, gridMsg)) {
      shown = { seed: q.get("seed") || "0", n: q.get("n") || "64", nrow: Number(q.get("nrow") || 8), label: q.get("label") };
    }
  });

  grid.addEventListener("click", async (e) => {
    if (!shown) return;
    const [c, h, w] = info.shape.slice(-3);
    const s = info.grid.scale, pad = info.grid.padding;
    const x = (e.offsetX * grid.naturalWidth / grid.clientWidth) / s;
    const y = (e.offsetY * grid.naturalHeight / grid.clientHeight) / s;
    const col = Math.floor((x - pad) / (w + pad)), row = Math.floor((y - pad) / (h + pad));
    const index = row * shown.nrow + col;
    if (col < 0 || col >= shown.nrow || index < 0 || index >= Number(shown.n)) return;
    const q = new URLSearchParams({ seed: shown.seed, n: shown.n, index: String(index), k: "8" });
    if (shown.label) q.set("label", shown.label);
    const text = document.getElementById("nn-text"), img = document.getElementById("nn-img");
    const r = await fetch(base + "api/neighbours?" + q);
    const j = await r.json();
    if (!r.ok) { text.textContent = j.error; text.className = "error"; img.hidden = true; return; }
    text.className = "";
    text.textContent = "Sample " + index + " (left), then its nearest training images (pixel L2): " +
      j.train_index.map((t, i) => "#" + t + " at " + j.distance[i].toFixed(3)).join(", ");
    await showImage(img, base + "neighbours.png?" + q, text);
    text.textContent = "Sample " + index + " (left), then its nearest training images (pixel L2): " +
      j.train_index.map((t, i) => "#" + t + " at " + j.distance[i].toFixed(3)).join(", ");
    document.body.dataset.nnIndex = String(index);
  });

  const interp = document.getElementById("interp-form");
  if (interp) interp.addEventListener("submit", async (e) => {
    e.preventDefault();
    const [img, p] = withMessage(document.getElementById("interp"));
    await showImage(img, base + "interpolate.png?" + params(interp), p);
  });
  const arith = document.getElementById("arith-form");
  if (arith) arith.addEventListener("submit", async (e) => {
    e.preventDefault();
    const [img, p] = withMessage(document.getElementById("arith"));
    const extra = shown ? { seed: shown.seed, n: shown.n } : {};
    if (await showImage(img, base + "arithmetic.png?" + params(arith, extra), p)) {
      p.textContent = "The groups' mean codes, then the result, then noisy variations (indices refer to the sample grid, seed " + (shown ? shown.seed : 0) + ").";
    }
  });
  gridForm.requestSubmit();
})();
