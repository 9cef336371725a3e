(function () {
"use strict";
const data = JSON.parse(document.getElementById("report-data").textContent);
const app = document.getElementById("app");
const nets = data.networks;
const COL = {client: "#4C72B0", uplink: "#DD8452", server: "#55A868", downlink: "#8172B3"};
const NETCOL = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22"];
const PLOTCFG = {displaylogo: false, responsive: true,
                 modeBarButtonsToRemove: ["sendDataToCloud", "lasso2d", "select2d"]};

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid != null) e.append(kid);
  return e;
}
function ms(v) {
  if (v == null) return "–";
  const a = Math.abs(v);
  return (a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2)) + " ms";
}
function kb(v) { return v == null ? "–" : (v / 1024).toFixed(1) + " KB"; }
function pct(v) { return v == null ? "" : " (" + (v >= 0 ? "+" : "") + v.toFixed(0) + " %)"; }
function when(t) {
  return t ? String(t).replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$/, " UTC") : "?";
}
function label(n, k) { return k + ":" + (n - k); }
function netById(name) { return nets.find(x => x.name === name); }
function netText(c) {
  return c.name + " (uplink " + c.uplink_mbps + " Mbit/s, downlink " + c.downlink_mbps +
         " Mbit/s, RTT " + c.rtt_ms + " ms)";
}
function cellText(col, v) {
  if (v == null) return "";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") {
    if (col.endsWith("_bytes")) return (v / 1024).toFixed(1);
    if (col === "max_abs_diff" || col.endsWith("max_abs_diff")) return v.toExponential(2);
    if (Number.isInteger(v)) return String(v);
    return v.toFixed(Math.abs(v) >= 100 ? 1 : 3);
  }
  return String(v);
}
function colTitle(col) {
  if (col.endsWith("_bytes")) return col.replace(/_bytes$/, " (KB)");
  return col;
}

// ---- header: the same-machine warning, controls, what was run ----
if (data.same_machine) {
  app.append(el("p", {class: "banner", id: "same-machine", text: data.same_machine}));
}
const controls = el("div", {class: "controls"});
const netSel = el("select", {id: "network"});
for (const c of nets) netSel.append(el("option", {value: c.name, text: netText(c)}));
const axisSel = el("select", {id: "yscale"});
axisSel.append(el("option", {value: "log", text: "log"}), el("option", {value: "linear", text: "linear"}));
controls.append(el("label", {for: "network", text: "Network"}), netSel,
                el("label", {for: "yscale", text: "Latency axis"}), axisSel);
app.append(controls);

const whereSec = el("section", {id: "where"});
whereSec.append(el("h2", {text: "Where to cut, and why"}));
app.append(whereSec);

// Facts as a reader says them: keys in words, sizes in MB (1 MB = 1,048,576 bytes, the kit's
// one convention) beside the exact bytes, other numbers to 4 significant digits.
const WORDS = {
  sha256: "SHA-256", file_bytes: "file size", num_operators: "operators", output_bytes: "output size",
  cpu_model: "CPU", kit_version: "kit version", first_seen: "first seen", warmup_runs: "warm-up runs",
  warmup_secs: "warm-up (s)", min_secs: "minimum time (s)", max_secs_per_part: "maximum time per part (s)",
  per_bout: "per bout", measured_per_bout: "measured per bout", first_finished: "first finished",
  last_finished: "last finished", prediction_note: "predictions", runs: "steady-state runs",
};
function words(k) { return WORDS[k] || k.replace(/_/g, " "); }
function factValue(k, v) {
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  if (typeof v === "number" && /(^|_)bytes$/.test(k))
    return (v / 1048576).toFixed(2) + " MB (" + v.toLocaleString("en-US") + " bytes)";
  if (typeof v === "number" && !Number.isInteger(v)) return String(+v.toPrecision(4));
  return String(v);
}
function factsTable(obj, id) {
  const t = el("table", {class: "facts", id: id || ""});
  for (const [k, v] of Object.entries(obj)) {
    if (v == null || v === "") continue;
    t.append(el("tr", {}, el("td", {text: words(k)}), el("td", {text: factValue(k, v)})));
  }
  return t;
}
const f = data.facts;
const how = el("section", {id: "how-to-read"});
how.append(el("h2", {text: "What the numbers are"}));
how.append(el("p", {text: "Split k:(N-k) runs the model's first k operators on the client (the head) and " +
  "the other N-k on the server (the tail). Client and server times are measured directly on each " +
  "part file (the mean of the steady-state samples, every sample kept in results.sqlite); the " +
  "intermediate data is every tensor crossing the cut, with its dtype; the head and tail sizes " +
  "are the real part files. End to end = client + RTT + intermediate / uplink + server + " +
  "output / downlink, per network; at N:0 (all on the phone) nothing crosses the network. " +
  "Lossless: head then tail gives the whole model's outputs within 1e-3. Nothing is estimated: " +
  "an unknown stays empty."}));
app.append(how);
const ran = el("section", {id: "what-was-run"});
ran.append(el("h2", {text: "What was run"}));
const m = f.model;
ran.append(el("p", {class: "lead", text:
  "Model " + (m.name || "?") + (m.num_operators != null ? ", " + m.num_operators + " operators" : "") +
  (m.file_bytes != null ? ", " + (m.file_bytes / 1048576).toFixed(2) + " MB" : "") +
  ". Measured " + when(f.measurements.first_finished) + " to " + when(f.measurements.last_finished) +
  "; report written " + when(f.generated_at) + " by splitbench " + f.kit_version + "."}));
const grid = el("div", {class: "grid"});
const mdiv = el("div", {}, el("h3", {text: "Model"}), factsTable(m, "model-facts"));
const asked = !("per_bout" in f.settings);
const sdiv = el("div", {}, el("h3", {text: asked ? "Settings asked for" :
                  "Run settings (totals of the per-bout settings; this run did not record what was typed)"}), factsTable(f.settings, "settings-facts"),
                el("h3", {text: "Measurements"}), factsTable(f.measurements, "measurement-facts"));
grid.append(mdiv, sdiv);
for (const [name, info] of Object.entries(f.targets)) {
  grid.append(el("div", {}, el("h3", {text: "Target " + name}), factsTable(info)));
}
if (Object.keys(f.extra || {}).length) grid.append(el("div", {}, el("h3", {text: "Run"}), factsTable(f.extra)));
ran.append(grid);
const nt = el("table", {class: "facts", id: "network-facts"});
nt.append(el("tr", {}, el("th", {text: "network"}), el("th", {text: "uplink Mbit/s"}),
          el("th", {text: "downlink Mbit/s"}), el("th", {text: "RTT ms"}), el("th", {text: "loss"}),
          el("th", {class: "text", text: "transport"}), el("th", {class: "text", text: "source"})));
const rate = (v, d) => d ? d.p10 + " / " + d.p50 + " / " + d.p90 + " (p10/p50/p90)" : v;
const transport = c => c.transport === "tcp"
  ? "TCP (ns-3), " + c.connection + " connection" + (c.draws ? ", " + c.draws + " draws" : "")
  : "ideal (arithmetic)";
for (const c of nets) nt.append(el("tr", {}, el("td", {text: c.name}), el("td", {text: rate(c.uplink_mbps, c.uplink_dist)}),
  el("td", {text: rate(c.downlink_mbps, c.downlink_dist)}), el("td", {text: c.rtt_ms}),
  el("td", {text: String(+(100 * (c.loss || 0)).toPrecision(3)) + " %"}),
  el("td", {class: "text", text: transport(c)}), el("td", {class: "text", text: c.source || ""})));
ran.append(el("h3", {text: "Network configurations"}), nt);
if (Object.keys(f.notes || {}).length) {
  ran.append(el("h3", {text: "Notes"}));
  for (const [k, v] of Object.entries(f.notes)) ran.append(el("p", {class: "muted", text: words(k) + ": " + v}));
}

app.append(ran);
// ---- one section per client ----
const sections = data.sections.map((s, i) => buildSection(s, i));

// What the client is (splits.csv's client_kind): "phone", "this host", or the emulated phone,
// whose numbers are this host's CPU's; the page says it wherever the client's numbers appear.
function clientKind(s) { return s.rows.length && s.rows[0].client_kind ? s.rows[0].client_kind : ""; }
function clientWord(s) { const k = clientKind(s); return k === "" || k === "phone" ? "phone" : "client: " + k; }

function bestSentence(s, net) {
  const b = s.best[net.name];
  const n = s.num_operators;
  if (!b) return "For " + net.name + ": no split has both parts measured, so there is no best split.";
  const where = b.best === n ? " (all on the " + clientWord(s) + ")" : b.best === 0 ? " (all on the server)" : "";
  let t = "For " + net.name + ", cut at " + label(n, b.best) + where + ": " + ms(b.best_ms) + " end to end";
  if (b.runner_up != null) t += ", " + ms(b.runner_up_margin.ms) + pct(b.runner_up_margin.pct) +
    " ahead of the runner-up " + label(n, b.runner_up);
  const anchors = [];
  if (b.best !== n && b.all_on_phone_ms != null)
    anchors.push("all on the " + clientWord(s) + " " + ms(b.all_on_phone_ms) + pct(b.all_on_phone_margin.pct));
  if (b.best !== 0 && b.all_on_server_ms != null)
    anchors.push("all on the server with the raw input " + ms(b.all_on_server_ms) + pct(b.all_on_server_margin.pct));
  if (anchors.length) t += "; " + anchors.join(", ");
  t += ".";
  if (b.ideal) {
    const d = b.ideal;
    if (d.tcp_minus_ideal_ms != null) t += " TCP is " + ms(Math.abs(d.tcp_minus_ideal_ms)) +
      (d.tcp_minus_ideal_ms >= 0 ? " slower" : " faster") + " than the ideal arithmetic at this cut (" +
      ms(d.at_tcp_best_ms) + ")" + (d.tcp_best_p90_ms != null ? ", 90th percentile " + ms(d.tcp_best_p90_ms) : "") + ";";
    t += d.best === b.best ? " the arithmetic picks the same split."
      : " the arithmetic would pick " + label(n, d.best) + " (" + ms(d.best_ms) + "): TCP changes the best split.";
  }
  if (b.coded) t += " With the cut coded (codec columns): cut at " + label(n, b.coded.best) + ", " +
    ms(b.coded.best_ms) + " end to end.";
  const v = s.anchors && s.anchors.verdict[net.name];
  if (v) t += " Against the phone uploading a compressed picture (clause-5 anchor): " + v.text + ".";
  return t + whySentence(s, net, b);
}

function whySentence(s, net, b) {
  const w = b.composition, n = s.num_operators;
  if (!w || !w.runner_up) return "";
  const names = {client: "the phone", uplink: "the uplink", server: "the server", downlink: "the downlink"};
  const diffs = ["client", "uplink", "server", "downlink"]
    .map(k => [k, (w.runner_up[k] || 0) - (w.best[k] || 0)])
    .filter(([, d]) => Math.abs(d) >= 0.01 * b.best_ms && Math.abs(d) > 0.005)
    .sort((a, b2) => Math.abs(b2[1]) - Math.abs(a[1]));
  if (!diffs.length) return "";
  const bits = diffs.map(([k, d]) => {
    let t = ms(Math.abs(d)) + (d > 0 ? " more" : " less") + " on " + names[k];
    if (k === "uplink" && w.runner_up.intermediate_bytes != null)
      t += " (" + kb(w.runner_up.intermediate_bytes) + " at " + net.uplink_mbps + " Mbit/s + RTT " +
           net.rtt_ms + " ms)";
    return t;
  });
  return " Why: the runner-up " + label(n, b.runner_up) + " spends " + bits.join(", ") + ".";
}

function buildSection(s, i) {
  const sec = el("section", {id: "section-" + i, class: "client-section"});
  const kind = clientKind(s);
  const title = "Client " + s.client + (kind && kind !== "phone" ? " — " + kind : "");
  const n = s.num_operators;
  const best = el("p", {class: "lead best-split", id: "best-split-" + i});
  // summary of every network
  const sum = el("table", {id: "best-table-" + i});
  sum.append(el("tr", {}, ...["network", "best split", "end to end", "runner-up", "margin",
    clientWord(s) === "phone" ? "all on phone" : "all on client", "vs best", "all on server (raw input)", "vs best",
    ...(s.anchors ? ["best anchor (picture upload)", "best split vs anchor"] : [])].map(h => el("th", {text: h}))));
  for (const c of nets) {
    const b = s.best[c.name];
    const tr = el("tr", {"data-network": c.name});
    if (!b) { tr.append(el("td", {text: c.name}), el("td", {text: "not measured"})); sum.append(tr); continue; }
    tr.append(el("td", {class: "text", text: c.name}), el("td", {text: label(n, b.best)}), el("td", {text: ms(b.best_ms)}),
      el("td", {text: b.runner_up == null ? "–" : label(n, b.runner_up)}),
      el("td", {text: b.runner_up_margin ? "+" + ms(b.runner_up_margin.ms) + pct(b.runner_up_margin.pct) : "–"}),
      el("td", {text: ms(b.all_on_phone_ms)}),
      el("td", {text: b.best === n ? "best" : b.all_on_phone_margin ? "+" + ms(b.all_on_phone_margin.ms) : "–"}),
      el("td", {text: ms(b.all_on_server_ms)}),
      el("td", {text: b.best === 0 ? "best" : b.all_on_server_margin ? "+" + ms(b.all_on_server_margin.ms) : "–"}));
    const v = s.anchors && s.anchors.verdict[c.name];
    if (s.anchors) tr.append(
      el("td", {class: "anchor-best", text: v ? v.anchor + " " + ms(v.anchor_ms) : "–"}),
      el("td", {class: "anchor-verdict", text: !v ? "–" : v.winner === "tie" ? "tie" :
        (v.winner === "split" ? "wins by " : "loses by ") + ms(Math.abs(v.margin_ms)) +
        " (" + Math.abs(100 * v.margin_ratio).toFixed(0) + " %)"}));
    sum.append(tr);
  }
  whereSec.append(el("h3", {text: title + (s.settings_label ? " (" + s.settings_label + ")" : "")}), best, sum);

  sec.append(el("h2", {text: title + ": latency, sizes and every split"}));
  const lat = el("div", {class: "chart tall", id: "latency-" + i});
  const up = el("div", {class: "chart tall", id: "uplink-" + i});
  const sizes = el("div", {class: "chart", id: "sizes-" + i});
  sec.append(el("h3", {text: "Latency per split (stacked: client, uplink, server, downlink)"}),
             el("p", {class: "muted", text: "Uplink includes the RTT; at " + label(n, n) +
               " nothing crosses the network. Hover a bar for the split's row."}), lat,
             el("h3", {text: "Best split against uplink bandwidth, each network with its own downlink and RTT"}), up,
             el("h3", {text: "Sizes per split"}),
             el("p", {class: "muted", text: "Intermediate: bytes the phone uploads at the cut. Head: the model part the server delivers to the phone (grows with the split). Tail: the part kept on the server. Dotted: time to deliver the head over the selected network (RTT + head/downlink)."}),
             sizes);
  if (s.anchors) {
    const at = el("table", {id: "anchors-" + i, class: "splits"});
    const acols = s.anchors.columns.filter(c => !c.startsWith("delivery_ms_"));
    at.append(el("tr", {}, ...acols.map(c => el("th", {text: colTitle(c)}))));
    for (const r of s.anchors.rows) at.append(el("tr", {"data-anchor": r.anchor},
      ...acols.map(c => el("td", {class: typeof r[c] === "string" ? "text" : "", text: cellText(c, r[c])}))));
    sec.append(el("h3", {text: "Anchor: all on the server, the phone uploads a compressed picture (anchors.csv)"}),
      el("p", {class: "muted", text: "Seed clause 5: the phone encodes the model's input picture, the server decodes it " +
        "and runs the whole model. Encode and decode were timed on this host (the phone's runner has no image codec); " +
        "max_abs_diff compares the model's outputs on the decoded picture with those on the original. " +
        "The latency chart shows each anchor as a dashed line."}),
      el("div", {class: "scroll"}, at));
  }
  let pred = null;
  if (s.has_predicted) {
    pred = el("div", {class: "chart", id: "predicted-" + i});
    sec.append(el("h3", {text: "Predicted (op-profile sums) against direct (measured parts)"}), pred);
  } else {
    sec.append(el("p", {class: "muted", id: "predicted-" + i,
      text: "No predicted times: they need an op-profiled whole-model run (benchmark_model with --benchmark-binary); direct times are measured on every part."}));
  }
  let coded = null;
  if (s.coded.length) {
    coded = el("div", {class: "chart", id: "coded-" + i});
    sec.append(el("h3", {text: "Intermediate data compressed (codec columns)"}), coded);
  }
  // per-split table
  const wrap = el("div", {class: "scroll"});
  const tbl = el("table", {id: "table-" + i, class: "splits"});
  const head = el("tr");
  const cols = [...s.columns.main, ...s.columns.more];
  cols.forEach((c, j) => {
    const more = j >= s.columns.main.length;
    const textCol = typeof (s.rows.find(r => r[c] != null) || {})[c] === "string";
    head.append(el("th", {class: "sortable" + (more ? " more-col" : "") + (textCol ? " text" : ""),
                          "data-col": c, title: "click to sort", text: colTitle(c)}));
  });
  const thead = el("thead", {}, head);
  const tbody = el("tbody");
  for (const r of s.rows) {
    const tr = el("tr", {"data-split": r.split});
    cols.forEach((c, j) => {
      const more = j >= s.columns.main.length;
      const v = r[c];
      let cls = (more ? "more-col " : "") + (typeof v === "string" ? "text" : "");
      if (c.endsWith("_error") && v) cls += " err";
      if ((c === "lossless" || c === "bit_exact") && v != null) cls += v ? " yes" : " no";
      tr.append(el("td", {class: cls, text: c === "split" ? label(n, v) : cellText(c, v)}));
    });
    tbody.append(tr);
  }
  tbl.append(thead, tbody);
  wrap.append(tbl);
  const more = el("input", {type: "checkbox", id: "more-" + i});
  more.addEventListener("change", () => wrap.classList.toggle("show-more", more.checked));
  sec.append(el("h3", {text: "Every split (click a column to sort)"}),
             el("label", {}, more, " all " + cols.length + " columns (KPIs, spreads, predicted times, ...)"), wrap);
  head.querySelectorAll("th").forEach(th => th.addEventListener("click", () => sortBy(tbl, th, s)));
  app.append(sec);
  return {s, i, best, sum, lat, up, sizes, pred, coded, tbl};
}

function sortBy(tbl, th, s) {
  const col = th.getAttribute("data-col");
  const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
  tbl.querySelectorAll("th").forEach(x => x.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", dir);
  const byK = new Map(s.rows.map(r => [String(r.split), r]));
  const body = tbl.tBodies[0];
  const trs = Array.from(body.rows);
  trs.sort((a, b) => {
    const va = byK.get(a.getAttribute("data-split"))[col], vb = byK.get(b.getAttribute("data-split"))[col];
    if (va == null && vb == null) return 0;
    if (va == null) return 1;
    if (vb == null) return -1;
    const cmp = typeof va === "string" ? va.localeCompare(vb) : va - vb;
    return dir === "ascending" ? cmp : -cmp;
  });
  for (const tr of trs) body.append(tr);
}

function drawLatency(sec, net, scale) {
  const s = sec.s, n = s.num_operators;
  const comp = s.components[net.name];
  const x = s.rows.map(r => label(n, r.split));
  const custom = s.rows.map((r, j) => [comp.client[j], comp.uplink[j], comp.server[j], comp.downlink[j],
    comp.total[j], r.intermediate_bytes == null ? null : r.intermediate_bytes / 1024,
    r.head_model_bytes == null ? null : r.head_model_bytes / 1024,
    r.lossless == null ? "unknown" : (r.lossless ? "yes" : "no"),
    r.client_error || r.server_error || ""]);
  const hover = "<b>split %{x}</b><br>client %{customdata[0]:.2f} ms<br>uplink (RTT + data) %{customdata[1]:.2f} ms" +
    "<br>server %{customdata[2]:.2f} ms<br>downlink %{customdata[3]:.2f} ms<br><b>end to end %{customdata[4]:.2f} ms</b>" +
    "<br>intermediate %{customdata[5]:.1f} KB<br>head %{customdata[6]:.1f} KB<br>lossless %{customdata[7]}" +
    "<br>%{customdata[8]}<extra>%{fullData.name}</extra>";
  const traces = ["client", "uplink", "server", "downlink"].map(k => ({
    type: "bar", name: k, x: x, y: comp[k].map(v => (scale === "log" && v === 0) ? null : v),
    marker: {color: COL[k]}, customdata: custom, hovertemplate: hover}));
  const b = s.best[net.name];
  if (b) traces.push({type: "scatter", mode: "markers+text", name: "best split", x: [label(n, b.best)],
    y: [b.best_ms * (scale === "log" ? 1.6 : 1.06)], text: ["best " + ms(b.best_ms)], textposition: "top center",
    marker: {symbol: "star", size: 16, color: "black"}, hoverinfo: "skip"});
  const DASH = ["dash", "dashdot", "dot", "longdash", "longdashdot"];
  if (s.anchors) s.anchors.rows.forEach((r, j) => {
    const v = r["e2e_ms_" + net.name];
    if (v == null) return;
    traces.push({type: "scatter", mode: "lines", name: "anchor " + r.anchor + " upload " + ms(v),
      x: [x[0], x[x.length - 1]], y: [v, v], line: {color: "#6A1B9A", width: 1.5, dash: DASH[j % DASH.length]},
      hovertemplate: "anchor " + r.anchor + ": " + ms(v) + " end to end<extra></extra>"});
  });
  const layout = {barmode: "stack", margin: {t: 30, r: 20, b: 80, l: 70},
    title: {text: net.name, font: {size: 14}, x: 0.01, xanchor: "left"},
    xaxis: {title: {text: "split (operators on client : on server)"}, type: "category", tickangle: -60},
    yaxis: {title: {text: "ms (" + scale + ")"}, type: scale},
    legend: {orientation: "h", y: 1.08, x: 1, xanchor: "right"}};
  Plotly.react(sec.lat, traces, layout, PLOTCFG);
  sec.lat.setAttribute("data-network", net.name);
  sec.lat.setAttribute("data-yscale", scale);
}

function drawUplink(sec, net) {
  const s = sec.s, n = s.num_operators, u = data.uplinks;
  const traces = [];
  nets.forEach((c, j) => {
    const cv = s.curves[c.name], color = NETCOL[j % NETCOL.length];
    const width = c.name === net.name ? 4 : 2;
    const dodge = nets.length > 1 ? (j - (nets.length - 1) / 2) * Math.min(0.6 / (nets.length - 1), 0.2) : 0;
    traces.push({type: "scatter", mode: "lines", line: {shape: "hvh", color: color, width: width},
      x: u, y: cv.best.map(v => v == null ? null : v + dodge), name: c.name, legendgroup: c.name,
      customdata: cv.best, hovertemplate: c.name + ": best %{customdata} at %{x:.3g} Mbit/s<extra></extra>"});
    traces.push({type: "scatter", mode: "lines", line: {color: color, width: width}, x: u, y: cv.best_ms,
      yaxis: "y2", name: c.name + " best", legendgroup: c.name, showlegend: false,
      hovertemplate: c.name + ": %{y:.1f} ms at %{x:.3g} Mbit/s<extra></extra>"});
    traces.push({type: "scatter", mode: "lines", line: {color: color, width: 1, dash: "dash"}, x: u,
      y: cv.all_on_server_ms, yaxis: "y2", name: c.name + " all on server", legendgroup: c.name,
      showlegend: false, hovertemplate: c.name + " all on server: %{y:.1f} ms<extra></extra>"});
    const b = s.best[c.name];
    const k = cv.best[nearest(u, c.uplink_mbps)];
    if (k != null) traces.push({type: "scatter", mode: "markers", x: [c.uplink_mbps], y: [k + dodge],
      marker: {size: 11, color: color, line: {color: "black", width: 1}}, legendgroup: c.name, showlegend: false,
      name: c.name, hovertemplate: c.name + " at its uplink: best " + (b ? label(n, b.best) : "?") + "<extra></extra>"});
  });
  if (s.all_on_phone_ms != null) traces.push({type: "scatter", mode: "lines", x: [u[0], u[u.length - 1]],
    y: [s.all_on_phone_ms, s.all_on_phone_ms], yaxis: "y2", name: "all on phone (" + label(n, n) + ")",
    line: {color: "black", width: 2, dash: "dot"}});
  const layout = {margin: {t: 20, r: 20, b: 60, l: 70},
    grid: {rows: 2, columns: 1, pattern: "coupled", roworder: "top to bottom"},
    xaxis: {type: "log", title: {text: "uplink bandwidth (Mbit/s, log)"}},
    yaxis: {title: {text: "best split (ops on client)"}, range: [-1.5, n + 1.5]},
    yaxis2: {type: "log", title: {text: "end to end (ms, log)"},
             range: s.uplink_ms_range ? s.uplink_ms_range.map(Math.log10) : undefined},
    legend: {orientation: "h", y: 1.06, x: 1, xanchor: "right"}};
  Plotly.react(sec.up, traces, layout, PLOTCFG);
}
function nearest(arr, v) {
  let best = 0;
  for (let j = 1; j < arr.length; j++) if (Math.abs(Math.log(arr[j] / v)) < Math.abs(Math.log(arr[best] / v))) best = j;
  return best;
}

function drawSizes(sec, net) {
  const s = sec.s, n = s.num_operators;
  const x = s.rows.map(r => label(n, r.split));
  const kbOf = c => s.rows.map(r => (r[c] == null || r[c] === 0) ? null : r[c] / 1024);
  const traces = [
    {type: "scatter", mode: "lines+markers", name: "intermediate (uplink)", x: x, y: kbOf("intermediate_bytes"), line: {color: COL.uplink}},
    {type: "scatter", mode: "lines+markers", name: "head (delivered to the phone)", x: x, y: kbOf("head_model_bytes"), line: {color: COL.client}},
    {type: "scatter", mode: "lines+markers", name: "tail (on the server)", x: x, y: kbOf("tail_model_bytes"), line: {color: COL.server}},
  ];
  if (s.rows.length && ("cut_coded_bytes" in s.rows[0])) traces.push({type: "scatter", mode: "lines+markers",
    name: "intermediate, coded", x: x, y: kbOf("cut_coded_bytes"), line: {color: COL.uplink, dash: "dash"}});
  const dcol = "delivery_ms_" + net.name;
  if (s.rows.length && (dcol in s.rows[0])) traces.push({type: "scatter", mode: "lines", yaxis: "y2",
    name: "head delivery, " + net.name + " (ms)", x: x, y: s.rows.map(r => r[dcol] || null),
    line: {color: "black", dash: "dot"}});
  Plotly.react(sec.sizes, traces, {margin: {t: 20, r: 70, b: 80, l: 70},
    xaxis: {type: "category", tickangle: -60, title: {text: "split"}},
    yaxis: {type: "log", dtick: 1, tickformat: "~s", title: {text: "KB (log)"}},
    yaxis2: {overlaying: "y", side: "right", type: "log", dtick: 1, tickformat: "~s",
             showgrid: false, title: {text: "delivery ms (log)"}},
    legend: {orientation: "h", y: 1.12}}, PLOTCFG);
}

function drawPredicted(sec) {
  if (!sec.pred) return;
  const s = sec.s, n = s.num_operators;
  const x = s.rows.map(r => label(n, r.split));
  const col = c => s.rows.map(r => r[c]);
  Plotly.react(sec.pred, [
    {type: "scatter", mode: "lines+markers", name: "client direct", x: x, y: col("client_ms"), line: {color: COL.client}},
    {type: "scatter", mode: "lines+markers", name: "client predicted", x: x, y: col("client_ms_predicted"), line: {color: COL.client, dash: "dash"}},
    {type: "scatter", mode: "lines+markers", name: "server direct", x: x, y: col("server_ms"), line: {color: COL.server}},
    {type: "scatter", mode: "lines+markers", name: "server predicted", x: x, y: col("server_ms_predicted"), line: {color: COL.server, dash: "dash"}},
  ], {margin: {t: 20, r: 20, b: 80, l: 70}, xaxis: {type: "category", tickangle: -60},
      yaxis: {title: {text: "ms"}}, legend: {orientation: "h", y: 1.12}}, PLOTCFG);
}

function drawCoded(sec, net) {
  if (!sec.coded) return;
  const s = sec.s, n = s.num_operators;
  const x = s.rows.map(r => label(n, r.split));
  const raw = "e2e_ms_" + net.name, coded = "e2e_coded_ms_" + net.name;
  const traces = [{type: "scatter", mode: "lines+markers", name: "end to end, raw cut", x: x, y: s.rows.map(r => r[raw])}];
  if (s.coded.includes(coded)) traces.push({type: "scatter", mode: "lines+markers", name: "end to end, coded cut",
    x: x, y: s.rows.map(r => r[coded]), line: {dash: "dash"}});
  Plotly.react(sec.coded, traces, {margin: {t: 20, r: 20, b: 80, l: 70}, xaxis: {type: "category", tickangle: -60},
    yaxis: {type: "log", title: {text: "ms (log), " + net.name}}, legend: {orientation: "h", y: 1.12}}, PLOTCFG);
}

function update() {
  const net = netById(netSel.value) || nets[0];
  const scale = axisSel.value;
  for (const sec of sections) {
    sec.best.textContent = bestSentence(sec.s, net);
    sec.best.setAttribute("data-network", net.name);
    sec.sum.querySelectorAll("tr[data-network]").forEach(tr =>
      tr.classList.toggle("best", tr.getAttribute("data-network") === net.name));
    const b = sec.s.best[net.name];
    sec.tbl.querySelectorAll("tbody tr").forEach(tr =>
      tr.classList.toggle("best", b != null && tr.getAttribute("data-split") === String(b.best)));
    drawLatency(sec, net, scale);
    drawSizes(sec, net);
    drawCoded(sec, net);
  }
}
netSel.addEventListener("change", update);
axisSel.addEventListener("change", update);
for (const sec of sections) { drawUplink(sec, nets[0]); drawPredicted(sec); }
netSel.addEventListener("change", () => { for (const sec of sections) drawUplink(sec, netById(netSel.value)); });
if (nets.length) update();
document.body.setAttribute("data-ready", "1");
})();
