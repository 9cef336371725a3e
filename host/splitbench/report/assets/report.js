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
// Every chart's legend sits right of the plot, starting at the plot's top edge; the top margin
// is left to plotly's toolbar (modebar, top right), so the two never overlap.
const LEGEND = {orientation: "v", x: 1.02, xanchor: "left", y: 1, yanchor: "top", tracegroupgap: 6};
const TOP = 46;
function rateText(mbps) {
  return mbps >= 1000 ? +(mbps / 1000).toPrecision(3) + " Gbit/s"
    : mbps >= 1 ? +mbps.toPrecision(3) + " Mbit/s" : +(mbps * 1000).toPrecision(3) + " kbit/s";
}
function decades(lo, hi) {
  const out = [];
  for (let e = Math.ceil(Math.log10(lo) - 1e-9); e <= Math.floor(Math.log10(hi) + 1e-9); e++) out.push(Math.pow(10, e));
  return out;
}

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
// The latency chart: each component as a line on a log axis by default (every part readable,
// however small next to the uplink); stacked bars only on a linear axis, where a segment's
// height is its share (on a log axis it would depend on what sits below it).
const viewSel = el("select", {id: "latency-view"});
viewSel.append(el("option", {value: "lines", text: "components as lines"}),
               el("option", {value: "stacked", text: "stacked bars (linear)"}));
const axisSel = el("select", {id: "yscale"});
axisSel.append(el("option", {value: "log", text: "log"}), el("option", {value: "linear", text: "linear"}));
controls.append(el("label", {for: "network", text: "Network"}), netSel,
                el("label", {for: "latency-view", text: "Latency chart"}), viewSel,
                el("label", {for: "yscale", text: "axis"}), axisSel);
viewSel.addEventListener("change", () => {
  const stacked = viewSel.value === "stacked";
  axisSel.querySelector("option[value=log]").disabled = stacked;
  axisSel.value = stacked ? "linear" : "log";
});
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
  const v = b.verdict;
  const ci = b.best_lo_ms != null && b.best_hi_ms != null
    ? " (95 % interval " + ms(b.best_lo_ms) + "–" + ms(b.best_hi_ms) + ")" : "";
  let t = v && v.tied
    ? "For " + net.name + " there is no single best split: " + v.text + ". Lowest estimate: cut at " +
      label(n, b.best) + where + ", " + ms(b.best_ms) + " end to end" + ci
    : "For " + net.name + ", cut at " + label(n, b.best) + where + ": " + ms(b.best_ms) + " end to end" + ci;
  if (b.runner_up != null) t += b.runner_up_in_noise
    ? ", the runner-up " + label(n, b.runner_up) + " only " + ms(b.runner_up_margin.ms) +
      " behind, within the measurement noise"
    : ", " + ms(b.runner_up_margin.ms) + pct(b.runner_up_margin.pct) +
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
  const av = s.anchors && s.anchors.verdict[net.name];
  if (av) t += " Against the phone uploading a compressed picture (clause-5 anchor): " + av.text + ".";
  return t + whySentence(s, net, b);
}

function whySentence(s, net, b) {
  const w = b.composition, n = s.num_operators;
  if (!w || !w.runner_up) return "";
  const names = {client: "the phone", uplink: "the uplink", server: "the server", downlink: "the downlink"};
  // measured parts whose intervals overlap differ only by noise: never a reason
  const noise = w.in_noise || {};
  const diffs = ["client", "uplink", "server", "downlink"]
    .filter(k => !noise[k])
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
    const tied = b.verdict && b.verdict.tied;
    tr.append(el("td", {class: "text", text: c.name}),
      el("td", {class: tied ? "tied" : "", title: tied ? b.verdict.text : "",
                text: tied ? "tied: " + b.verdict.contenders.map(k => label(n, k)).join(", ") : label(n, b.best)}),
      el("td", {text: ms(b.best_ms) + (b.best_lo_ms != null ? " [" + ms(b.best_lo_ms) + "–" + ms(b.best_hi_ms) + "]" : "")}),
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
  if (s.statistic) whereSec.append(el("p", {class: "muted", text: "Times are the " + s.statistic +
    " of each part's samples; the end-to-end 95 % interval resamples the bouts of client and server " +
    "(docs/statistics.md)."}));
  if (s.unstable.length) {
    const box = el("div", {class: "unstable", id: "unstable-" + i},
      el("p", {text: s.unstable.length + " part(s) unstable: their times should not be trusted as they are " +
        "(the client_unstable and server_unstable columns say why and what to do)."}));
    const ul = el("ul");
    for (const line of s.unstable.slice(0, 5)) ul.append(el("li", {text: line}));
    if (s.unstable.length > 5) ul.append(el("li", {text: "… and " + (s.unstable.length - 5) + " more"}));
    box.append(ul);
    whereSec.append(box);
  }

  sec.append(el("h2", {text: title + ": latency, sizes and every split"}));
  const lat = el("div", {class: "chart tall", id: "latency-" + i});
  const dmap = s.decision ? el("div", {class: "chart tall", id: "decision-" + i}) : null;
  const dnote = el("p", {class: "muted", id: "decision-note-" + i});
  const up = el("div", {class: "chart tall", id: "uplink-" + i});
  const sizes = el("div", {class: "chart", id: "sizes-" + i});
  sec.append(el("h3", {text: "Latency per split: client, uplink, server, downlink and end to end"}),
             el("p", {class: "muted", text: "Uplink includes the RTT; at " + label(n, n) +
               " nothing crosses the network. Each component is a line on a log axis, so the server's " +
               "few ms stay readable next to seconds of uplink; stacked bars are offered on a linear " +
               "axis (Latency chart above). Hover a split for its row."}), lat);
  if (dmap) sec.append(
             el("h3", {text: "Decision map: the best split for every uplink and every client speed (what-if on measured data)"}),
             el("p", {class: "muted", text: "The Neurosurgeon question for every deployment at once: " +
               "where to cut for a client 1 to 30 times slower than the one measured, on any uplink " +
               "from 100 kbit/s to 10 Gbit/s. Colour = the best split; hover a cell for its end to end " +
               "and its margin to the runner-up. The circle is this run (measured client, the selected network's uplink)."}),
             dnote, dmap);
  sec.append(
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
      if (c.endsWith("_unstable") && v) cls += " unst";
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
  return {s, i, best, sum, lat, dmap, dnote, up, sizes, pred, coded, tbl};
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

function drawLatency(sec, net, scale, view) {
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
  const stacked = view === "stacked";
  const axis = stacked ? "linear" : scale;  // stacked bars never on a log axis
  const drop = v => (axis === "log" && v === 0) ? null : v;  // 0 has no place on a log axis
  // The end-to-end 95 % interval (client and server resampled by bout) as error bars.
  const interval = comp.e2e_err_plus ? {type: "data", symmetric: false, array: comp.e2e_err_plus,
    arrayminus: comp.e2e_err_minus, color: "#222", thickness: 1.2, width: 3} : undefined;
  const traces = [];
  if (stacked) {
    for (const k of ["client", "uplink", "server", "downlink"]) traces.push({type: "bar", name: k, x: x,
      y: comp[k], marker: {color: COL[k]}, customdata: custom, hovertemplate: hover});
    if (interval) traces.push({type: "scatter", mode: "markers", name: "95 % interval", x: x,
      y: comp.e2e, marker: {size: 3, color: "#222"}, error_y: interval,
      hovertemplate: "split %{x}: %{y:.2f} ms end to end (95 % interval)<extra></extra>"});
  } else {
    // The total underneath, wide; the components on top (as in latency_stacked_<network>.png).
    traces.push(...totalBand(comp, x));
    traces.push({type: "scatter", mode: "lines+markers", name: "end to end", x: x, y: comp.total.map(drop),
      line: {color: "#222222", width: 4}, marker: {size: 7}, customdata: custom, hovertemplate: hover,
      error_y: interval});
    for (const k of ["client", "uplink", "server", "downlink"]) traces.push({type: "scatter",
      mode: "lines+markers", name: k, x: x, y: comp[k].map(drop), line: {color: COL[k], width: 1.6},
      marker: {size: 5}, customdata: custom, hovertemplate: hover});
  }
  const b = s.best[net.name];
  // Lines: the star on the end-to-end line, its label below (the line leaves upwards); bars: above.
  if (b) traces.push({type: "scatter", mode: "markers+text", name: "best split " + ms(b.best_ms), x: [label(n, b.best)],
    y: [stacked ? b.best_ms * 1.06 : b.best_ms], text: ["best " + ms(b.best_ms)],
    textposition: stacked ? "top center" : "bottom center", cliponaxis: false,
    marker: {symbol: "star", size: 16, color: "black"}, hoverinfo: "skip"});
  if (s.anchors) {
    const shown = s.anchors.rows.filter(r => r["e2e_ms_" + net.name] != null);
    shown.forEach((r, j) => {
      const v = r["e2e_ms_" + net.name];
      traces.push({type: "scatter", mode: "lines", name: "anchor " + r.anchor + " upload " + ms(v),
        x: [x[0], x[x.length - 1]], y: [v, v],
        line: {color: ANCHOR_COLORS[j % ANCHOR_COLORS.length], width: 2, dash: interleaved(j, shown.length)},
        hovertemplate: "anchor " + r.anchor + ": " + ms(v) + " end to end<extra></extra>"});
    });
  }
  const layout = {barmode: stacked ? "stack" : undefined, margin: {t: TOP, r: 20, b: 80, l: 70},
    title: {text: net.name, font: {size: 14}, x: 0.01, xanchor: "left"},
    xaxis: {title: {text: "split (operators on client : on server)"}, type: "category", tickangle: -60},
    yaxis: {title: {text: "ms (" + axis + ")"}, type: axis}, legend: LEGEND};
  Plotly.react(sec.lat, traces, layout, PLOTCFG);
  sec.lat.setAttribute("data-network", net.name);
  sec.lat.setAttribute("data-yscale", axis);
  sec.lat.setAttribute("data-view", stacked ? "stacked" : "lines");
}
// Anchors whose times are close would hide one another: each gets its own colour and a dash
// pattern that fills the others' gaps, so coinciding lines show every colour in turn.
const ANCHOR_COLORS = data.anchor_colors;  // the PNGs' (plots.ANCHOR_COLORS)
function interleaved(j, count) {
  if (count <= 1) return "dash";
  const on = 8, before = j * on, after = (count - 1 - j) * on;
  return [0, before, on, after].map(v => v + "px").join(",");
}
// Hook for an interval of the end to end (comp.total_low / comp.total_high, when the data has
// them): a shaded band under the lines. Nothing is drawn without them.
function totalBand(comp, x) {
  if (!comp.total_low || !comp.total_high) return [];
  return [
    {type: "scatter", mode: "lines", x: x, y: comp.total_high, line: {width: 0}, hoverinfo: "skip",
     showlegend: false, legendgroup: "interval"},
    {type: "scatter", mode: "lines", x: x, y: comp.total_low, line: {width: 0}, fill: "tonexty",
     fillcolor: "rgba(34,34,34,0.15)", name: "end to end interval", legendgroup: "interval", hoverinfo: "skip"}];
}

function drawUplink(sec, net) {
  // One legend entry per network (its colour, its figures, its best split at its own uplink) and
  // one per line style, as in best_split_vs_uplink.png: every line is named, the legend stays short.
  const s = sec.s, n = s.num_operators, u = data.uplinks;
  const traces = [];
  nets.forEach((c, j) => {
    const cv = s.curves[c.name], color = NETCOL[j % NETCOL.length];
    const width = c.name === net.name ? 4 : 2;
    const dodge = nets.length > 1 ? (j - (nets.length - 1) / 2) * Math.min(0.6 / (nets.length - 1), 0.2) : 0;
    const group = {legendgroup: c.name, showlegend: false};
    traces.push({type: "scatter", mode: "lines", line: {shape: "hvh", color: color, width: width},
      x: u, y: cv.best.map(v => v == null ? null : v + dodge), name: c.name + " best split", ...group,
      customdata: cv.best, hovertemplate: c.name + ": best %{customdata} at %{x:.3g} Mbit/s<extra></extra>"});
    traces.push({type: "scatter", mode: "lines", line: {color: color, width: width}, x: u, y: cv.best_ms,
      yaxis: "y2", name: c.name + " end to end of the best split", ...group,
      hovertemplate: c.name + ": %{y:.1f} ms at %{x:.3g} Mbit/s<extra></extra>"});
    traces.push({type: "scatter", mode: "lines", line: {color: color, width: 1, dash: "dash"}, x: u,
      y: cv.all_on_server_ms, yaxis: "y2", name: c.name + " all on server", ...group,
      hovertemplate: c.name + " all on server: %{y:.1f} ms<extra></extra>"});
    const b = s.best[c.name];
    const k = cv.best[nearest(u, c.uplink_mbps)];
    traces.push({type: "scatter", mode: "lines+markers", x: k == null ? [] : [c.uplink_mbps], y: k == null ? [] : [k + dodge],
      line: {color: color, width: 2}, marker: {size: 11, color: color, line: {color: "black", width: 1}},
      legendgroup: c.name, name: c.name + " (" + c.uplink_mbps + "/" + c.downlink_mbps + " Mbit/s, RTT " +
        c.rtt_ms + " ms): " + (b ? label(n, b.best) + ", " + ms(b.best_ms) : "nothing measured"),
      hovertemplate: c.name + " at its uplink: best " + (b ? label(n, b.best) : "?") + "<extra></extra>"});
  });
  const key = (name, line) => ({type: "scatter", mode: "lines", x: [null], y: [null], name: name, line: line,
    hoverinfo: "skip", legendgroup: "key"});
  traces.push(key("solid: best split (top), its end to end (bottom)", {color: "grey", width: 2}),
              key("dashed: all on server (" + label(n, 0) + ")", {color: "grey", width: 1, dash: "dash"}));
  if (s.all_on_phone_ms != null) traces.push({type: "scatter", mode: "lines", x: [u[0], u[u.length - 1]],
    y: [s.all_on_phone_ms, s.all_on_phone_ms], yaxis: "y2", name: "dotted: all on phone (" + label(n, n) + ")",
    legendgroup: "key", line: {color: "black", width: 2, dash: "dot"}});
  const ticks = decades(u[0], u[u.length - 1]);
  const layout = {margin: {t: TOP, r: 20, b: 60, l: 70},
    grid: {rows: 2, columns: 1, pattern: "coupled", roworder: "top to bottom"},
    xaxis: {type: "log", title: {text: "uplink bandwidth (log scale)"}, tickvals: ticks, ticktext: ticks.map(rateText)},
    yaxis: {title: {text: "best split (ops on client)"}, range: [-1.5, n + 1.5]},
    yaxis2: {type: "log", title: {text: "end to end (ms, log)"},
             range: s.uplink_ms_range ? s.uplink_ms_range.map(Math.log10) : undefined},
    legend: {...LEGEND, font: {size: 11},
             title: {text: "network (up/down, RTT): best split<br>and its end to end at its own uplink", font: {size: 11}}}};
  Plotly.react(sec.up, traces, layout, PLOTCFG);
}

function drawDecision(sec, net) {
  if (!sec.dmap) return;
  const s = sec.s, n = s.num_operators, d = s.decision, m = d.maps[net.name];
  const lu = d.uplinks.map(Math.log10), ls = d.slowdowns.map(Math.log10);
  const custom = m.best.map((row, r) => row.map((k, c) => [
    k == null ? "none measured" : label(n, k), ms(m.best_ms[r][c]),
    m.runner_up[r][c] == null ? "none" : label(n, m.runner_up[r][c]),
    m.margin_ms[r][c] == null ? "–" : "+" + ms(m.margin_ms[r][c]) + pct(m.margin_pct[r][c]),
    rateText(d.uplinks[c]), +d.slowdowns[r].toPrecision(2) + "×"]));
  const traces = [{type: "heatmap", x: lu, y: ls, z: m.best, zmin: 0, zmax: n, colorscale: "Viridis",
    customdata: custom, name: "best split",
    colorbar: {title: {text: "best split<br>(ops on client)", side: "right"}, len: 0.9, y: 0.5},
    hovertemplate: "uplink %{customdata[4]}, client %{customdata[5]} slower than measured<br>" +
      "<b>best split %{customdata[0]}</b>: %{customdata[1]} end to end<br>" +
      "runner-up %{customdata[2]}: %{customdata[3]}<extra></extra>"}];
  const here = s.best[net.name];
  traces.push({type: "scatter", mode: "markers", x: [Math.log10(net.uplink_mbps)], y: [0], showlegend: false,
    name: net.name + " as measured", marker: {size: 14, color: "rgba(0,0,0,0)", line: {color: "black", width: 2.5}},
    hovertemplate: net.name + " (" + rateText(net.uplink_mbps) + "), the client as measured: best " +
      (here ? label(n, here.best) + ", " + ms(here.best_ms) : "–") + "<extra></extra>"});
  // Each region named by its split, at the middle of its cells.
  const where = new Map();
  m.best.forEach((row, r) => row.forEach((k, c) => {
    if (k == null) return;
    const w = where.get(k) || {x: 0, y: 0, count: 0};
    w.x += lu[c]; w.y += ls[r]; w.count += 1; where.set(k, w);
  }));
  const notes = [...where].map(([k, w]) => ({x: w.x / w.count, y: w.y / w.count, text: "<b>" + label(n, k) + "</b>",
    showarrow: false, bgcolor: "rgba(255,255,255,0.8)", font: {size: 12}}));
  notes.push({x: Math.log10(net.uplink_mbps), y: 0, yshift: 18, text: net.name + " as measured", showarrow: false,
    bgcolor: "rgba(255,255,255,0.8)", font: {size: 11}});
  const ut = decades(d.uplinks[0], d.uplinks[d.uplinks.length - 1]);
  const st = [1, 2, 3, 5, 10, 20, 30];
  Plotly.react(sec.dmap, traces, {margin: {t: TOP, r: 20, b: 60, l: 80},
    title: {text: "Best split for " + net.name + "'s downlink and RTT", font: {size: 14}, x: 0.01, xanchor: "left"},
    annotations: notes,
    xaxis: {title: {text: "uplink bandwidth (log scale)"}, tickvals: ut.map(Math.log10), ticktext: ut.map(rateText),
            zeroline: false},
    yaxis: {title: {text: "client slower than the measured one (log scale)"}, tickvals: st.map(Math.log10),
            ticktext: st.map(v => v + "×"), zeroline: false}}, PLOTCFG);
  sec.dmap.setAttribute("data-network", net.name);
  sec.dnote.textContent = m.what_if + " Scaling every client time by one factor assumes the slower " +
    "client is uniformly slower; a real phone may be slower on some operators than on others.";
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
  Plotly.react(sec.sizes, traces, {margin: {t: TOP, r: 70, b: 80, l: 70},
    xaxis: {type: "category", tickangle: -60, title: {text: "split"}},
    yaxis: {type: "log", dtick: 1, tickformat: "~s", title: {text: "KB (log)"}},
    yaxis2: {overlaying: "y", side: "right", type: "log", dtick: 1, tickformat: "~s",
             showgrid: false, title: {text: "delivery ms (log)"}},
    legend: {...LEGEND, x: 1.08}}, PLOTCFG);
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
  ], {margin: {t: TOP, r: 20, b: 80, l: 70}, xaxis: {type: "category", tickangle: -60},
      yaxis: {title: {text: "ms"}}, legend: LEGEND}, PLOTCFG);
}

function drawCoded(sec, net) {
  if (!sec.coded) return;
  const s = sec.s, n = s.num_operators;
  const x = s.rows.map(r => label(n, r.split));
  const raw = "e2e_ms_" + net.name, coded = "e2e_coded_ms_" + net.name;
  const traces = [{type: "scatter", mode: "lines+markers", name: "end to end, raw cut", x: x, y: s.rows.map(r => r[raw])}];
  if (s.coded.includes(coded)) traces.push({type: "scatter", mode: "lines+markers", name: "end to end, coded cut",
    x: x, y: s.rows.map(r => r[coded]), line: {dash: "dash"}});
  Plotly.react(sec.coded, traces, {margin: {t: TOP, r: 20, b: 80, l: 70}, xaxis: {type: "category", tickangle: -60},
    yaxis: {type: "log", title: {text: "ms (log), " + net.name}}, legend: LEGEND}, PLOTCFG);
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
    drawLatency(sec, net, scale, viewSel.value);
    drawDecision(sec, net);
    drawSizes(sec, net);
    drawCoded(sec, net);
  }
}
netSel.addEventListener("change", update);
axisSel.addEventListener("change", update);
viewSel.addEventListener("change", update);
for (const sec of sections) { drawUplink(sec, nets[0]); drawPredicted(sec); }
netSel.addEventListener("change", () => { for (const sec of sections) drawUplink(sec, netById(netSel.value)); });
if (nets.length) update();
document.body.setAttribute("data-ready", "1");
})();
