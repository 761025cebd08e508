"""The console's stylesheet and script, served from `/static/` (no CDN, no inline code: the CSP forbids it).

The script is progressive: every page works without it (forms post, links navigate). With it,
the page long-polls `/events?since=N`, and when the engine has moved on it fetches the page
again and swaps each `data-live` region in place (never one holding the field being typed in),
the timeline following its latest step;
decisions post to the approval API in the background and report its answer; the state graph
zooms and keeps the current state in view; the clock ticks.
"""

CSS = """
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #f6f8fa; --card: #fff; --accent: #0969da;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9; --wait: #9a6700; --wait-bg: #fff8c5;
  --run-bg: #ddf4ff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg);
  background: var(--bg); }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
code, pre, .hash { font: 12px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: #eff1f3; padding: .05rem .3rem; border-radius: 4px; word-break: break-all; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: .8rem; overflow: auto;
  max-height: 28rem; }
header.top { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.5rem; background: #24292f;
  color: #f0f3f6; position: sticky; top: 0; z-index: 5; }
header.top a { color: #f0f3f6; }
.brand { font-size: 16px; letter-spacing: .01em; } .brand b { font-weight: 700; color: #fff; }
header nav { display: flex; gap: .3rem; }
header nav a { padding: .3rem .7rem; border-radius: 6px; color: #c9d1d9; }
header nav a.active, header nav a:hover { background: #3b434b; color: #fff; text-decoration: none; }
.meta { margin-left: auto; display: flex; gap: 1rem; align-items: center; color: #c9d1d9; font-size: 13px; }
.mode { background: #3b434b; padding: .15rem .6rem; border-radius: 999px; }
.clock { font-variant-numeric: tabular-nums; }
.who { font-weight: 600; color: #fff; } .who.none { font-weight: 400; color: #ffb3ad; }
.signout { color: #8c959f !important; font-size: 12px; }
main { padding: 1.2rem 1.5rem 3rem; max-width: 1680px; margin: 0 auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.2rem;
  margin-bottom: 1.2rem; }
.card.narrow { max-width: 40rem; margin: 3rem auto; }
h1 { font-size: 22px; margin: 0 0 .6rem; display: flex; align-items: center; gap: .6rem; flex-wrap: wrap; }
h2 { font-size: 15px; margin: 0 0 .8rem; display: flex; align-items: center; gap: .5rem; }
h3 { font-size: 16px; margin: 0 0 .4rem; }
.count { background: #eaeef2; color: var(--muted); border-radius: 999px; padding: 0 .55rem; font-size: 12px; }
.muted, .empty { color: var(--muted); } .empty { margin: .2rem 0; }
@media (max-width: 1100px) { .split { grid-template-columns: 1fr !important; } }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line);
  padding: .35rem .5rem; white-space: nowrap; }
td { border-bottom: 1px solid #eaeef2; padding: .45rem .5rem; vertical-align: top; }
tbody tr:last-child td { border-bottom: 0; }
table.timeline td:first-child, table.executions td:nth-child(5), table.executions td:nth-child(6) { white-space: nowrap; }
.pill { display: inline-block; border-radius: 999px; padding: .05rem .6rem; font-size: 12px; font-weight: 600;
  white-space: nowrap; border: 1px solid transparent; }
.pill.ok { background: var(--ok-bg); color: var(--ok); border-color: #aceebb; }
.pill.bad { background: var(--bad-bg); color: var(--bad); border-color: #ffcecb; }
.pill.wait { background: var(--wait-bg); color: var(--wait); border-color: #eac54f; }
.pill.run { background: var(--run-bg); color: var(--accent); border-color: #b6e3ff; }
.pill.mute { background: #eaeef2; color: var(--muted); }
.finding { font-weight: 600; }
.waiting { color: var(--wait); font-weight: 600; }
.error { color: var(--bad); }
.flash { margin: 1rem 1.5rem 0; padding: .6rem 1rem; border-radius: 6px; border: 1px solid #b6e3ff;
  background: var(--run-bg); }
.flash.ok { border-color: #aceebb; background: var(--ok-bg); } .flash.bad { border-color: #ffcecb; background: var(--bad-bg); }
button, .button { font: inherit; font-weight: 600; padding: .35rem .9rem; border-radius: 6px; cursor: pointer;
  border: 1px solid #1f232826; background: #f6f8fa; color: var(--fg); display: inline-block; }
button:hover, .button:hover { background: #eef1f4; text-decoration: none; }
button.primary { background: var(--ok); color: #fff; border-color: #1f232826; }
button.quiet, .button.quiet { font-weight: 500; }
button.approve { background: var(--ok); color: #fff; } button.approve:hover { background: #176f2c; }
button.reject { background: #fff; color: var(--bad); border-color: #ffcecb; } button.reject:hover { background: var(--bad-bg); }
button[disabled] { opacity: .6; cursor: progress; }
.approvals.waiting { border-color: #eac54f; box-shadow: 0 0 0 3px #fff8c580; }
.approval { border: 1px solid #eac54f; border-left: 5px solid #d4a72c; border-radius: 6px; padding: .8rem 1rem;
  margin-top: .6rem; background: #fffdf0; }
.inline-approvals .approval { margin: 0 0 1.2rem; }
.approval .tag { background: var(--bad); color: #fff; border-radius: 4px; padding: .05rem .45rem; font-size: 13px; }
.approval .ask { margin: .2rem 0 .6rem; }
.approval dl, dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0 0 .6rem; }
dt { color: var(--muted); } dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
form.decide { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
form.decide .reason { flex: 1 1 16rem; padding: .35rem .6rem; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
.full { font-size: 13px; }
.note { color: var(--wait); }
.crumbs { color: var(--muted); margin: 0 0 .6rem; }
.split { display: grid; grid-template-columns: minmax(0, 1.7fr) minmax(20rem, 1fr); gap: 1.2rem; align-items: start; }
.graph-card { padding-bottom: .6rem; }
.legend { display: flex; gap: .9rem; align-items: center; font-size: 12px; color: var(--muted); margin: -.3rem 0 .5rem; flex-wrap: wrap; }
.legend .st::before { content: ""; display: inline-block; width: .8rem; height: .8rem; border-radius: 3px;
  margin-right: .3rem; vertical-align: -2px; border: 2px solid; }
.legend .st-running::before { background: var(--run-bg); border-color: var(--accent); }
.legend .st-waiting::before { background: var(--wait-bg); border-color: #d4a72c; }
.legend .st-succeeded::before { background: var(--ok-bg); border-color: var(--ok); }
.legend .st-failed::before { background: var(--bad-bg); border-color: var(--bad); }
.zoom { margin-left: auto; display: flex; gap: .25rem; } .zoom button { padding: .1rem .55rem; font-weight: 500; }
.graph-scroll { overflow: auto; height: 44rem; border: 1px solid #eaeef2; border-radius: 6px; background: #fcfcfd; }
svg.graph { display: block; }
svg.graph g.node.st-idle { opacity: .45; }
svg.graph g.node.st-succeeded polygon, svg.graph g.node.st-succeeded ellipse, svg.graph g.node.st-succeeded path {
  fill: var(--ok-bg); stroke: var(--ok); stroke-width: 2; }
svg.graph g.node.st-failed polygon, svg.graph g.node.st-failed ellipse, svg.graph g.node.st-failed path {
  fill: var(--bad-bg); stroke: var(--bad); stroke-width: 3; }
svg.graph g.node.st-running polygon, svg.graph g.node.st-running ellipse, svg.graph g.node.st-running path {
  fill: var(--run-bg); stroke: var(--accent); stroke-width: 5; animation: pulse 1.2s ease-in-out infinite; }
svg.graph g.node.st-waiting polygon, svg.graph g.node.st-waiting ellipse, svg.graph g.node.st-waiting path {
  fill: #ffe58f; stroke: #bf8700; stroke-width: 6; animation: pulse 1.2s ease-in-out infinite; }
svg.graph g.node.st-running text, svg.graph g.node.st-waiting text { font-weight: 700; }
@keyframes pulse { 50% { stroke-opacity: .35; } }
ol.state-list { columns: 2; } ol.state-list .st-succeeded { color: var(--ok); } ol.state-list .st-failed { color: var(--bad); }
ol.state-list .st-running, ol.state-list .st-waiting { font-weight: 700; color: var(--accent); }
.steps-scroll { max-height: 44rem; overflow: auto; }
ol.steps { list-style: none; margin: 0; padding: 0; position: relative; }
ol.steps::before { content: ""; position: absolute; left: 4.9rem; top: .4rem; bottom: .4rem; width: 2px; background: #eaeef2; }
ol.steps li { display: grid; grid-template-columns: 4.2rem 1.4rem 1fr; align-items: baseline; padding: .18rem 0; }
ol.steps .at { color: var(--muted); font-size: 12px; text-align: right; padding-right: .3rem; font-variant-numeric: tabular-nums; }
ol.steps .dot { width: .7rem; height: .7rem; border-radius: 50%; background: #afb8c1; justify-self: center; position: relative; z-index: 1; }
ol.steps li.st-succeeded .dot { background: var(--ok); } ol.steps li.st-failed .dot { background: var(--bad); }
ol.steps li.st-running .dot { background: var(--accent); box-shadow: 0 0 0 4px var(--run-bg); }
ol.steps li.st-waiting .dot { background: #d4a72c; box-shadow: 0 0 0 4px var(--wait-bg); }
ol.steps .name { font-weight: 600; }
ol.steps .detail { grid-column: 3; color: var(--muted); font-size: 12px; }
ol.steps .error { grid-column: 3; font-size: 12px; }
.task { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
table.evidence .hash { font-size: 11px; word-break: break-all; }
.download { font-size: 12px; margin-left: .3rem; }
form.pick { display: flex; gap: 1rem; flex-wrap: wrap; align-items: end; margin: .8rem 0; }
form.pick label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: .2rem; }
select, textarea { font: inherit; border: 1px solid var(--line); border-radius: 6px; padding: .3rem .5rem; background: #fff; }
form.pick select { min-width: 16rem; max-width: 34rem; }
form.start label { display: block; margin: .4rem 0; }
form.start textarea { width: 100%; font: 12px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
form.start button { margin-top: .6rem; }
table.scenarios form { display: flex; gap: .4rem; }
details summary { cursor: pointer; color: var(--accent); margin: .3rem 0; }
"""

JS = r"""
(function () {
  'use strict';
  var body = document.body;
  var version = Number(body.dataset.version || 0);
  var zoom = Number(localStorage.getItem('irflow-zoom') || 0.6);
  var lastCurrent = '';

  function tickClock() {
    var clock = document.querySelector('.clock');
    if (!clock) { return; }
    var started = Date.now(), base = Number(clock.dataset.now), speed = Number(clock.dataset.speed || 1);
    setInterval(function () {
      clock.textContent = new Date(base + (Date.now() - started) * speed).toISOString().substring(11, 19) + ' UTC';
    }, 250);
  }

  function flash(text, kind) {
    var box = document.getElementById('flash');
    if (!box) { return; }
    box.textContent = text;
    box.className = 'flash ' + (kind || 'info');
    box.hidden = false;
  }

  function typingIn(region) {
    var active = document.activeElement;
    return active && region.contains(active) && active.matches('input, textarea, select');
  }

  function refresh() {
    return fetch(location.href, {credentials: 'same-origin', headers: {'X-Irflow-Poll': '1'}}).then(function (r) {
      if (!r.ok) { return; }
      return r.text().then(function (text) {
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var steps = document.querySelector('.steps-scroll');
        var following = steps && steps.scrollHeight - steps.scrollTop - steps.clientHeight < 40;
        document.querySelectorAll('[data-live]').forEach(function (region) {
          var fresh = doc.getElementById(region.id);
          if (fresh && fresh.innerHTML !== region.innerHTML && !typingIn(region)) { region.innerHTML = fresh.innerHTML; }
        });
        version = Number(doc.body.dataset.version || version);
        body.dataset.version = String(version);
        if (following) { steps.scrollTop = steps.scrollHeight; }
        afterUpdate();
      });
    });
  }

  function poll() {
    fetch('/events?since=' + version, {credentials: 'same-origin'}).then(function (r) {
      if (r.status === 401 || r.status === 403) { return null; }
      return r.json().then(refresh).then(function () { poll(); });
    }).catch(function () { setTimeout(poll, 2000); });
  }

  function applyZoom() {
    var svg = document.querySelector('svg.graph');
    if (!svg) { return; }
    var pane = svg.closest('.graph-scroll');
    var width = Number(svg.getAttribute('width')), height = Number(svg.getAttribute('height'));
    var scale = zoom > 0 ? zoom : Math.min(1, (pane.clientWidth - 4) / width);
    svg.style.width = Math.round(width * scale) + 'px';
    svg.style.height = Math.round(height * scale) + 'px';
  }

  function showCurrent(force) {
    var svg = document.querySelector('svg.graph');
    if (!svg) { return; }
    var nodes = svg.querySelectorAll('g.st-waiting, g.st-running');
    var names = Array.prototype.map.call(nodes, function (n) { return n.dataset.state; }).join('|');
    if (!nodes.length || (names === lastCurrent && !force)) { return; }
    lastCurrent = names;
    var pane = svg.closest('.graph-scroll'), node = svg.querySelector('g.st-waiting') || nodes[0];
    var box = node.getBoundingClientRect(), view = pane.getBoundingClientRect();
    pane.scrollTo({left: pane.scrollLeft + box.left - view.left - (pane.clientWidth - box.width) / 2,
                   top: pane.scrollTop + box.top - view.top - (pane.clientHeight - box.height) / 2,
                   behavior: force ? 'auto' : 'smooth'});
  }

  function afterUpdate() { applyZoom(); showCurrent(false); }

  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-zoom]');
    if (!button) { return; }
    var step = Number(button.dataset.zoom);
    var svg = document.querySelector('svg.graph');
    var current = zoom > 0 ? zoom : (svg ? svg.getBoundingClientRect().width / Number(svg.getAttribute('width')) : 0.5);
    zoom = step === 0 ? 0 : Math.max(0.15, Math.min(1.5, current * (step > 0 ? 1.25 : 0.8)));
    localStorage.setItem('irflow-zoom', String(zoom));
    applyZoom();
    showCurrent(true);
  });

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!form.matches('form[data-decide]')) { return; }
    event.preventDefault();
    var data = new URLSearchParams(new FormData(form, event.submitter));
    form.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
    fetch(form.action, {method: 'POST', body: data, credentials: 'same-origin'}).then(function (r) {
      return r.text().then(function (text) {
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var said = doc.querySelector('.done, .refused');
        flash((said ? said.textContent : doc.title), r.ok ? 'ok' : 'bad');
        return refresh();
      });
    }).catch(function () {
      flash('The approval API did not answer; nothing was decided.', 'bad');
      form.querySelectorAll('button').forEach(function (b) { b.disabled = false; });
    });
  });

  document.querySelectorAll('form[data-autosubmit] select').forEach(function (select) {
    select.addEventListener('change', function () { select.form.submit(); });
  });

  tickClock();
  var steps = document.querySelector('.steps-scroll');
  if (steps) { steps.scrollTop = steps.scrollHeight; }  // the latest steps first in view; it follows them
  applyZoom();
  showCurrent(true);
  poll();
})();
"""
