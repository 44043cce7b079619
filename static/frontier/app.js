/* Frontier pages: live Pareto plot, curves, candidate table and snapshot sliders. */
(function () {
  "use strict";
  const PLOT_CONFIG = {responsive: true, displaylogo: false};
  const active = () => { const s = document.getElementById("status"); return s && ["queued", "running"].includes(s.dataset.status); };

  async function getJSON(url) {
    const r = await fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  // --- Pareto scatter ------------------------------------------------------
  const pareto = document.getElementById("pareto");
  const axes = document.getElementById("axes");
  let bound = false;
  let webgl = null;
  function hasWebGL() {  // a browser without WebGL draws the same traces as SVG
    if (webgl === null) {
      try { const c = document.createElement("canvas"); webgl = !!(c.getContext("webgl") || c.getContext("experimental-webgl")); }
      catch (e) { webgl = false; }
    }
    return webgl;
  }
  async function drawPareto() {
    if (!pareto || !window.Plotly) return;
    const params = new URLSearchParams(axes ? new FormData(axes) : undefined);
    const t0 = performance.now();
    const data = await getJSON(pareto.dataset.url + "?" + params.toString());
    const t1 = performance.now();
    const note = document.getElementById("pareto-note");
    if (note) {
      note.textContent = data.thinned ? "Drawn: " + data.shown.toLocaleString() + " of " + data.count.toLocaleString() +
        " candidates: every front point, and one point for each small area of the plot (darker grey: more candidates" +
        " there; the hover says how many). Tick \u201cevery point\u201d to draw them all (slower)." : "";
      note.hidden = !data.thinned;
    }
    if (data.count === 0) {
      pareto.innerHTML = '<p class="muted">No candidates yet' + (active() ? ": they appear here as the job finds them." : ".") + "</p>";
      bound = false;
      return;
    }
    if (!bound) pareto.innerHTML = "";
    if (!hasWebGL()) data.figure.data.forEach((t) => { if (t.type === "scattergl") t.type = "scatter"; });
    await Plotly.react(pareto, data.figure.data, data.figure.layout, PLOT_CONFIG);
    Plotly.Plots.resize(pareto);
    await new Promise((r) => requestAnimationFrame(() => r()));
    // timings of the last draw, read by bench/dashboard.py
    pareto.dataset.fetchMs = (t1 - t0).toFixed(1);
    pareto.dataset.drawMs = (performance.now() - t1).toFixed(1);
    pareto.dataset.drawnAt = performance.now().toFixed(1);  // since the page's navigation started
    pareto.dataset.shown = data.shown;
    if (!bound) {
      pareto.on("plotly_click", (ev) => {
        const p = ev.points && ev.points[0];
        if (p && p.customdata) window.location = pareto.dataset.candidateUrl + p.customdata[0] + "/";
      });
      bound = true;
    }
  }
  if (axes) axes.addEventListener("change", drawPareto);

  // --- curves ----------------------------------------------------------------
  const series = document.getElementById("series");
  async function drawSeries() {
    if (!series || !window.Plotly) return;
    const data = await getJSON(series.dataset.url);
    if (!data.figures.length) return;
    data.figures.forEach((f, i) => {
      let el = document.getElementById("series-" + i);
      if (!el) {
        if (i === 0) series.innerHTML = "";
        const box = document.createElement("div");
        box.innerHTML = "<h3>" + f.title.replace(/[<>&]/g, "") + "</h3>";
        el = document.createElement("div"); el.id = "series-" + i; el.className = "plot";
        box.appendChild(el); series.appendChild(box);
      }
      Plotly.react(el, f.figure.data, f.figure.layout, PLOT_CONFIG).then(() => Plotly.Plots.resize(el));
    });
  }

  // --- candidate table: keep the user's page/sort while refreshing -----------
  let candidatesUrl = null;
  document.body.addEventListener("htmx:configRequest", (ev) => {
    if (ev.detail.target && ev.detail.target.id === "candidates") candidatesUrl = ev.detail.path +
      (Object.keys(ev.detail.parameters || {}).length ? "?" + new URLSearchParams(ev.detail.parameters) : "");
  });

  // --- live refresh while the job runs ----------------------------------------
  let wasActive = active();
  async function tick() {
    const now = active();
    if (now || wasActive) {
      try { await drawPareto(); await drawSeries(); } catch (e) { console.warn(e); }
      if (candidatesUrl && window.htmx) htmx.ajax("GET", candidatesUrl, {target: "#candidates", swap: "innerHTML"});
    }
    if (wasActive && !now) setTimeout(() => window.location.reload(), 300);  // show artifacts and summary
    wasActive = now;
  }
  drawPareto().catch(console.warn);
  drawSeries().catch(console.warn);
  if (pareto) setInterval(tick, 2000);

  // --- compare page -------------------------------------------------------------
  const cmp = document.getElementById("compare-plot");
  const cmpFig = document.getElementById("compare-figure");
  if (cmp && cmpFig && window.Plotly) {
    const f = JSON.parse(cmpFig.textContent);
    if (f) Plotly.newPlot(cmp, f.data, f.layout, PLOT_CONFIG);
  }

  // --- snapshot sliders -----------------------------------------------------------
  document.querySelectorAll(".slider").forEach((s) => {
    const slides = s.querySelectorAll("figure");
    const range = s.querySelector("input[type=range]");
    range.addEventListener("input", () => slides.forEach((f, i) => f.classList.toggle("on", i === +range.value)));
  });
})();
