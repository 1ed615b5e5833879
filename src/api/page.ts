/**
 * The live status page (`GET /`): one self-contained HTML document — inline CSS, inline script, SVG
 * charts drawn by hand — that polls `/api/status` once a second. No CDN, no library: it works offline
 * and is a few KB. Rows carry `data-kind`, `data-id` and `data-state` (ok | failing | behind) so
 * tests (test/api/page.test.ts) and people's own scripts can find them.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice status</title>
<style>
:root { --fg: #1d232b; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --ok: #12805c; --bad: #c4320a; --warn: #b54708; --accent: #2f6fdb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: center; padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 20px; letter-spacing: .5px; }
header .meta { color: var(--muted); }
main { padding: 16px 24px; max-width: 1280px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .8px; color: var(--muted); margin: 20px 0 8px; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
th, td { padding: 8px 12px; text-align: right; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: 12px; font-weight: 600; color: var(--muted); background: #fbfbfc; }
th:first-child, td:first-child, td.type, th.type, td.state, th.state { text-align: left; }
td.name { font-weight: 600; }
td.type { color: var(--muted); }
td.num { font-variant-numeric: tabular-nums; }
tr.failing td { background: #fef3f2; }
tr.behind td { background: #fffaeb; }
tr.detail td { text-align: left; white-space: normal; color: var(--bad); font-size: 13px; padding-top: 0; }
tr.detail.behind td { color: var(--warn); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #ecfdf3; color: var(--ok); }
.badge.failing { background: #fee4e2; color: var(--bad); }
.badge.behind { background: #fef0c7; color: var(--warn); }
.badge.stopping { background: #fef0c7; color: var(--warn); }
.bar { display: inline-block; width: 160px; height: 10px; background: var(--line); border-radius: 5px; overflow: hidden; vertical-align: middle; }
.bar i { display: block; height: 100%; background: var(--accent); }
.bar.full i { background: var(--bad); }
svg.chart { display: block; }
svg.chart polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
svg.chart .area { fill: rgba(47, 111, 219, .12); stroke: none; }
svg.chart .base { stroke: var(--line); }
svg.chart text { font-size: 10px; fill: var(--muted); }
tr.failing svg.chart polyline { stroke: var(--bad); }
#warnings { list-style: none; margin: 0; padding: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
#warnings li { padding: 6px 12px; border-bottom: 1px solid var(--line); font-size: 13px; }
#warnings li:last-child { border-bottom: 0; }
#warnings .t { color: var(--muted); margin-right: 8px; font-variant-numeric: tabular-nums; }
#warnings .error { color: var(--bad); font-weight: 600; margin-right: 6px; }
#warnings .warn { color: var(--warn); font-weight: 600; margin-right: 6px; }
#conn { display: none; padding: 8px 24px; background: #fee4e2; color: var(--bad); }
footer { padding: 8px 24px 24px; color: var(--muted); font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>sluice</h1>
  <span class="meta" id="version"></span>
  <span class="badge" id="phase">…</span>
  <span class="meta">up <b id="uptime">–</b></span>
  <span class="meta">queue <span class="bar" id="qbar"><i style="width:0"></i></span> <b id="queue">–</b></span>
</header>
<div id="conn"></div>
<main>
  <h2>Sources</h2>
  <table id="sources"><thead><tr><th>source</th><th class="type">type</th><th>events/s</th><th>bytes/s</th><th>events</th><th>events/s, last minutes</th></tr></thead><tbody></tbody></table>
  <h2>Sinks</h2>
  <table id="sinks"><thead><tr><th>sink</th><th class="type">type</th><th>events/s</th><th>bytes/s</th><th>events</th><th>backlog</th><th>oldest unacked</th><th class="state">state</th><th>events/s, last minutes</th></tr></thead><tbody></tbody></table>
  <h2>Recent warnings</h2>
  <ul id="warnings"></ul>
</main>
<footer>Updates every second from <a href="/api/status">/api/status</a> · <a href="/metrics">/metrics</a> · <a href="/health">/health</a> · <span id="updated"></span></footer>
<script>
"use strict";
var $ = function (id) { return document.getElementById(id); };
function count(n) {
  var a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (a >= 1e5) return (n / 1e3).toFixed(0) + "k";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return a >= 100 || n === Math.round(n) ? String(Math.round(n)) : n.toFixed(1);
}
function bytes(n) {
  var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + u[i];
}
function dur(s) {
  if (s === null || s === undefined) return "–";
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  return Math.floor(s / 86400) + "d" + Math.floor(s % 86400 / 3600) + "h";
}
var NS = "http://www.w3.org/2000/svg";
function chart(values, w, h) {
  var svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "chart"); svg.setAttribute("width", w); svg.setAttribute("height", h);
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  var max = 1;
  for (var i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  // The x axis spans at least a minute, up to the whole history (five minutes), newest at the right.
  var span = Math.max(60, values.length), step = w / (span - 1), x0 = w - (values.length - 1) * step, pts = [];
  for (var j = 0; j < values.length; j++) pts.push((x0 + j * step).toFixed(1) + "," + (h - 2 - values[j] / max * (h - 14)).toFixed(1));
  if (pts.length > 1) {
    var area = document.createElementNS(NS, "polygon");
    area.setAttribute("class", "area");
    area.setAttribute("points", x0.toFixed(1) + "," + h + " " + pts.join(" ") + " " + w + "," + h);
    svg.appendChild(area);
    var line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.appendChild(line);
  }
  var base = document.createElementNS(NS, "line");
  base.setAttribute("x1", "0"); base.setAttribute("x2", String(w)); base.setAttribute("y1", String(h - 0.5)); base.setAttribute("y2", String(h - 0.5));
  base.setAttribute("class", "base");
  svg.appendChild(base);
  var label = document.createElementNS(NS, "text");
  label.setAttribute("x", "2"); label.setAttribute("y", "10");
  label.textContent = max > 1 ? "peak " + count(max) + "/s" : "";
  svg.appendChild(label);
  return svg;
}
function cell(tr, cls, text) {
  var td = document.createElement("td");
  td.className = cls;
  if (text instanceof Node) td.appendChild(text); else td.textContent = text;
  tr.appendChild(td);
  return td;
}
function row(kind, id, c) {
  var tr = document.createElement("tr");
  tr.dataset.kind = kind; tr.dataset.id = id;
  cell(tr, "name", id);
  cell(tr, "type", c.type);
  cell(tr, "num rate", count(c.events_per_second));
  cell(tr, "num bps", bytes(c.bytes_per_second) + "/s");
  cell(tr, "num events", count(c.events));
  return tr;
}
function render(s) {
  $("version").textContent = "v" + s.version;
  $("phase").textContent = s.status;
  $("phase").className = "badge" + (s.status === "running" ? "" : " stopping");
  $("uptime").textContent = dur(s.uptime_seconds);
  var q = s.queue, pct = q.max_bytes > 0 ? Math.min(100, q.bytes_on_disk / q.max_bytes * 100) : 0;
  $("queue").textContent = bytes(q.bytes_on_disk) + " of " + bytes(q.max_bytes) + (q.full ? " — FULL, sources wait" : "");
  $("qbar").className = "bar" + (q.full ? " full" : "");
  $("qbar").firstChild.style.width = pct.toFixed(1) + "%";

  var sb = document.createElement("tbody");
  Object.keys(s.sources).forEach(function (id) {
    var c = s.sources[id], tr = row("source", id, c);
    tr.dataset.state = "ok";
    cell(tr, "chart", chart(c.history.events_per_second, 240, 36));
    sb.appendChild(tr);
  });
  $("sources").replaceChild(sb, $("sources").tBodies[0]);

  var kb = document.createElement("tbody");
  Object.keys(s.sinks).forEach(function (id) {
    var c = s.sinks[id], tr = row("sink", id, c);
    var state = c.failing ? "failing" : c.behind ? "behind" : "ok";
    tr.dataset.state = state;
    if (state !== "ok") tr.className = state;
    cell(tr, "num backlog", count(c.backlog_events));
    cell(tr, "num age", dur(c.oldest_unacked_age_seconds));
    var badge = document.createElement("span");
    badge.className = "badge" + (state === "ok" ? "" : " " + state);
    var behind = c.behind ? (c.behind.eta_seconds === null ? "behind" : "catching up") : "";
    badge.textContent = c.failing ? "failing · " + c.retries + " retries" : c.behind ? behind : "ok";
    cell(tr, "state", badge);
    cell(tr, "chart", chart(c.history.events_per_second, 240, 36));
    kb.appendChild(tr);
    var notes = [];
    if (c.failing && c.last_error) notes.push({ cls: "failing", text: "last error: " + c.last_error });
    if (c.behind) notes.push({ cls: "behind", text: behind + ": " + count(c.backlog_events) + " events left, " + count(c.behind.events_per_second) + "/s, " + (c.behind.eta_seconds === null ? "not shrinking" : "about " + dur(c.behind.eta_seconds) + " left") });
    notes.forEach(function (n) {
      var d = document.createElement("tr");
      d.className = "detail " + n.cls; d.dataset.detailOf = id;
      var td = cell(d, "", n.text); td.colSpan = 9;
      kb.appendChild(d);
    });
  });
  $("sinks").replaceChild(kb, $("sinks").tBodies[0]);

  var ul = $("warnings");
  ul.textContent = "";
  if (s.warnings.length === 0) { var li0 = document.createElement("li"); li0.textContent = "none"; ul.appendChild(li0); }
  s.warnings.slice().reverse().forEach(function (w) {
    var li = document.createElement("li"), t = document.createElement("span"), l = document.createElement("span");
    t.className = "t"; t.textContent = new Date(w.time).toLocaleTimeString();
    l.className = w.level; l.textContent = w.level.toUpperCase();
    li.appendChild(t); li.appendChild(l); li.appendChild(document.createTextNode(w.message));
    ul.appendChild(li);
  });
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}
function poll() {
  fetch("/api/status", { cache: "no-store" }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (s) {
    $("conn").style.display = "none";
    render(s);
  }).catch(function (e) {
    $("conn").style.display = "block";
    $("conn").textContent = "cannot reach the agent (" + e.message + "); retrying every second";
  }).then(function () { setTimeout(poll, 1000); });
}
poll();
</script>
</body>
</html>
`;
