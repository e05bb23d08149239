/**
 * `--html FILE`: one self-contained HTML file (inline CSS and script, the
 * trace embedded as JSON, no network access) with the run's summary and
 * coverage/vacuity warnings and, for a violation, swimlanes per CPU, step
 * forwards and backwards (buttons, ←/→, Home/End, click a row), the full
 * state of the selected step with what that step changed highlighted, and
 * the status of every invariant at every step.
 */
import type { ParamValueAny } from '../engine/model.js';
import type { TraceDoc } from './json.js';

export interface HtmlRun {
  readonly model: string;
  readonly modelFile?: string | null;
  readonly params: Record<string, ParamValueAny>;
  readonly verdict: string;
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly elapsedMs: number;
  readonly invariants: readonly string[];
  readonly warnings: readonly string[];
  readonly limit?: string | null;
}

export interface HtmlInput {
  readonly run: HtmlRun;
  readonly traces: readonly TraceDoc[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON safe to embed in a <script> element. */
const embed = (x: unknown) => JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

const CSS = `
:root { --fg:#1d2330; --muted:#6b7280; --line:#d9dee7; --bad:#b42318; --badbg:#fdecea; --ok:#067647; --okbg:#e7f6ec; --chg:#fff1b8; --cur:#e8f0fe; --warnbg:#fff8e1; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0; padding: 16px 20px 40px; }
h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 18px 0 6px; }
code, .mono, td.cell, .state td { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; }
.badge.violated { background: var(--badbg); color: var(--bad); } .badge.holds { background: var(--okbg); color: var(--ok); } .badge.incomplete { background: var(--warnbg); color: #8a5a00; }
.warnings { background: var(--warnbg); border: 1px solid #f3d98b; border-radius: 6px; padding: 6px 12px; margin: 10px 0; }
.warnings li { margin: 2px 0; }
.controls { position: sticky; top: 0; background: #fff; padding: 8px 0; border-bottom: 1px solid var(--line); z-index: 2; display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
button { font: inherit; padding: 3px 10px; border: 1px solid var(--line); border-radius: 5px; background: #f7f8fa; cursor: pointer; }
button:disabled { opacity: .4; cursor: default; }
#step-label { min-width: 110px; font-weight: 600; margin: 0 6px; }
.layout { display: grid; grid-template-columns: minmax(420px, 3fr) minmax(320px, 2fr); gap: 18px; align-items: start; }
@media (max-width: 900px) { .layout { grid-template-columns: 1fr; } }
table { border-collapse: collapse; }
#lanes { width: 100%; table-layout: fixed; }
#lanes th, #lanes td { border-bottom: 1px solid var(--line); padding: 4px 8px; vertical-align: top; text-align: left; }
#lanes th { font-size: 12px; color: var(--muted); font-weight: 600; }
#lanes td + td, #lanes th + th { border-left: 1px solid var(--line); }
#lanes .num { width: 42px; color: var(--muted); text-align: right; }
#lanes .inv { width: 38px; text-align: center; }
#lanes tr.step { cursor: pointer; }
#lanes tr.step:hover td { background: #f5f7fb; }
#lanes tr.current td { background: var(--cur); }
#lanes tr.future td.cell { opacity: .35; }
#lanes td.act { font-weight: 500; }
#lanes tr.bad td.inv { color: var(--bad); font-weight: 700; }
#lanes td.loop { color: var(--dim, #888); text-align: center; font-style: italic; padding: 2px 0; }
#lanes td.inv.ok { color: var(--ok); }
.desc { margin: 6px 0 10px; padding: 6px 10px; background: #f7f8fa; border-radius: 6px; }
.state table { margin: 2px 0 10px; }
.state th, .state td { border: 1px solid var(--line); padding: 2px 8px; text-align: center; }
.state th { background: #f7f8fa; font-weight: 600; font-size: 12px; }
.state td.changed { background: var(--chg); font-weight: 700; }
.state .field { font-weight: 600; margin-top: 6px; }
.state .scalar.changed { background: var(--chg); font-weight: 700; padding: 0 4px; }
#invariants li { list-style: none; margin: 2px 0; } #invariants { padding: 0; margin: 0; }
#invariants .holds::before { content: "✓ "; color: var(--ok); } #invariants .fails::before { content: "✗ "; color: var(--bad); }
#invariants .fails { color: var(--bad); font-weight: 600; }
#violation { border: 1px solid #f5b5ae; background: var(--badbg); color: var(--bad); border-radius: 6px; padding: 8px 12px; margin: 10px 0; font-weight: 600; }
#violation[hidden] { display: none; }
kbd { border: 1px solid var(--line); border-bottom-width: 2px; border-radius: 3px; padding: 0 4px; font-size: 11px; }
`;

// Client script: plain ES2017, no template literals (keeps it a simple string here).
const JS = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('data').textContent);
  var traces = data.traces;
  if (!traces.length) return;
  var which = 0, cur = 0;
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) { if (k === 'class') e.className = attrs[k]; else e.setAttribute(k, attrs[k]); }
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function lanesOf(t) {
    var cpus = {}, global = false, list = [];
    t.steps.forEach(function (s, i) { if (i === 0) return; if (s.cpu === null) global = true; else cpus[s.cpu] = true; });
    Object.keys(cpus).map(Number).sort(function (a, b) { return a - b; }).forEach(function (c) { list.push({ key: c, label: 'CPU' + c }); });
    if (global || !list.length) list.push({ key: null, label: '—' });
    return list;
  }
  function sortLabel(sort, i) {
    if (sort === 'cpu') return 'CPU' + i;
    if (sort === 'page') return 'va' + i;
    return sort ? sort + ' ' + i : String(i);
  }
  function fmt(f, v) {
    if (Array.isArray(v)) return '[' + v.map(function (x) { return fmt(f, x); }).join(', ') + ']';
    if (f.kind === 'bool') return v ? 'true' : 'false';
    if (f.kind === 'set') {
      var m = [], n = 0;
      for (var b = v >>> 0; b; b >>>= 1, n++) if (b & 1) m.push(sortLabel(f.setOf, n));
      return '{' + m.join(', ') + '}';
    }
    if (f.kind === 'int' && v === -1 && (f.ref || f.lo === -1)) return '—';
    if (f.kind === 'int' && f.ref) return sortLabel(f.ref, v);
    return String(v);
  }
  function pathOf(name, idx) { return name + idx.map(function (i) { return '[' + i + ']'; }).join(''); }
  function changedUnder(changed, prefix) {
    for (var i = 0; i < changed.length; i++) if (changed[i] === prefix || changed[i].indexOf(prefix + '[') === 0) return true;
    return false;
  }

  function buildLanes() {
    var t = traces[which], lanes = lanesOf(t), table = $('lanes');
    table.innerHTML = '';
    var head = el('tr');
    head.appendChild(el('th', { class: 'num' }, '#'));
    lanes.forEach(function (l) { head.appendChild(el('th', null, l.label)); });
    head.appendChild(el('th', { class: 'inv', title: 'invariants' }, 'inv'));
    table.appendChild(el('thead')).appendChild(head);
    var body = table.appendChild(el('tbody'));
    // A lasso (liveness): rules where its loop starts and where it closes.
    var loop = t.loopStart === null || t.loopStart === undefined ? -1 : t.loopStart;
    var rule = function (text) {
      var r = el('tr', { class: 'loop' });
      r.appendChild(el('td', { class: 'loop', colspan: String(lanes.length + 2) }, '┄┄┄ ' + text + ' ┄┄┄'));
      body.appendChild(r);
    };
    t.steps.forEach(function (s, i) {
      if (loop >= 0 && i === loop + 1) rule(i === t.steps.length - 1 ? 'loop: step ' + i + ' repeats forever' : 'loop: steps ' + i + '–' + (t.steps.length - 1) + ' repeat forever');
      var tr = el('tr', { class: 'step', 'data-step': String(i) });
      var num = i === 0 ? '0' : String(t.slice ? t.slice.kept[i - 1] : i);
      tr.appendChild(el('td', { class: 'num' }, num));
      lanes.forEach(function (l) {
        var mine = i === 0 ? l === lanes[0] : (s.cpu === l.key);
        var td = el('td', { class: 'cell' + (mine ? ' act' : '') }, mine ? (i === 0 ? 'initial state' : s.description) : '');
        if (mine && i > 0) td.title = s.action + '(' + s.args.join(',') + ')';
        tr.appendChild(td);
      });
      var bad = Object.keys(s.invariants).filter(function (k) { return !s.invariants[k]; });
      var inv = el('td', { class: 'inv' + (bad.length ? '' : ' ok'), title: bad.length ? 'violated: ' + bad.join(', ') : 'all invariants hold' }, bad.length ? '✗' : '✓');
      tr.appendChild(inv);
      if (bad.length) tr.className += ' bad';
      tr.addEventListener('click', function () { go(i); });
      body.appendChild(tr);
    });
    if (loop >= 0) rule(loop < t.steps.length - 1 ? 'back to the state after step ' + loop : 'stays in this state forever: no step is enabled');
  }

  function renderState() {
    var t = traces[which], s = t.steps[cur], prev = cur > 0 ? t.steps[cur - 1] : null, box = $('state');
    box.innerHTML = '';
    t.fields.forEach(function (f) {
      var v = s.state[f.name];
      var title = el('div', { class: 'field' });
      title.appendChild(el('span', { class: 'mono' }, f.name));
      box.appendChild(title);
      var prevOf = function (idx) {
        if (!prev) return undefined;
        var x = prev.state[f.name];
        idx.forEach(function (i) { x = x[i]; });
        return x;
      };
      var cell = function (tag, idx, val) {
        var p = pathOf(f.name, idx), c = el(tag, { 'data-path': p }, fmt(f, val));
        if (changedUnder(s.changed, p)) { c.className = 'changed'; c.title = 'was ' + fmt(f, prevOf(idx)); }
        return c;
      };
      if (f.dims.length === 0) {
        var sc = cell('span', [], v);
        sc.className = 'scalar mono' + (sc.className ? ' ' + sc.className : '');
        title.appendChild(document.createTextNode(' = '));
        title.appendChild(sc);
        return;
      }
      var table = el('table');
      if (f.dims.length === 1) {
        var h = el('tr'), r = el('tr');
        for (var i = 0; i < f.dims[0].size; i++) { h.appendChild(el('th', null, sortLabel(f.dims[0].sort, i))); r.appendChild(cell('td', [i], v[i])); }
        table.appendChild(h); table.appendChild(r);
      } else {
        var hh = el('tr');
        hh.appendChild(el('th'));
        for (var j = 0; j < f.dims[1].size; j++) hh.appendChild(el('th', null, sortLabel(f.dims[1].sort, j)));
        table.appendChild(hh);
        for (var a = 0; a < f.dims[0].size; a++) {
          var row = el('tr');
          row.appendChild(el('th', null, sortLabel(f.dims[0].sort, a)));
          for (var b = 0; b < f.dims[1].size; b++) row.appendChild(cell('td', [a, b], v[a][b]));
          table.appendChild(row);
        }
      }
      box.appendChild(table);
    });
    var inv = $('invariants');
    inv.innerHTML = '';
    Object.keys(s.invariants).forEach(function (k) {
      inv.appendChild(el('li', { class: s.invariants[k] ? 'holds' : 'fails', 'data-invariant': k }, k + (s.invariants[k] ? ' holds' : ' is violated')));
    });
  }

  function go(i) {
    var t = traces[which], n = t.steps.length - 1;
    cur = Math.max(0, Math.min(n, i));
    var rows = document.querySelectorAll('#lanes tr.step');
    for (var k = 0; k < rows.length; k++) rows[k].className = rows[k].className.replace(/ ?(current|future)/g, '') + (k === cur ? ' current' : k > cur ? ' future' : '');
    var s = t.steps[cur];
    $('step-label').textContent = 'step ' + cur + ' / ' + n;
    $('desc').textContent = cur === 0 ? 'initial state' : (s.cpu === null ? '' : 'CPU' + s.cpu + ': ') + s.description + '   [' + s.action + '(' + s.args.join(',') + ')]';
    $('first').disabled = $('prev').disabled = cur === 0;
    $('next').disabled = $('last').disabled = cur === n;
    var v = $('violation');
    if (cur === n) {
      v.hidden = false;
      v.textContent = '✗ ' + (t.kind === 'deadlock' ? 'deadlock' : t.invariant + ' violated') + (t.kind === 'liveness' ? ' (a lasso: the loop repeats forever)' : ' after ' + n + ' step' + (n === 1 ? '' : 's')) + ': ' + t.reason;
    } else v.hidden = true;
    renderState();
    if (rows[cur] && rows[cur].scrollIntoView) rows[cur].scrollIntoView({ block: 'nearest' });
  }

  function select(w) { which = w; buildLanes(); go(0); }
  $('first').onclick = function () { go(0); };
  $('prev').onclick = function () { go(cur - 1); };
  $('next').onclick = function () { go(cur + 1); };
  $('last').onclick = function () { go(traces[which].steps.length - 1); };
  var sel = $('which');
  if (sel) sel.onchange = function () { select(Number(sel.value)); };
  document.addEventListener('keydown', function (e) {
    if (e.target && e.target.tagName === 'SELECT') return;
    if (e.key === 'ArrowRight' || e.key === 'j') { go(cur + 1); e.preventDefault(); }
    else if (e.key === 'ArrowLeft' || e.key === 'k') { go(cur - 1); e.preventDefault(); }
    else if (e.key === 'Home') { go(0); e.preventDefault(); }
    else if (e.key === 'End') { go(traces[which].steps.length - 1); e.preventDefault(); }
  });
  select(0);
  document.body.setAttribute('data-ready', 'true');
})();
`;

function fmtParams(p: Record<string, ParamValueAny>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

export function htmlReport(input: HtmlInput): string {
  const { run, traces } = input;
  const title = `tlbcheck: ${run.model}${Object.keys(run.params).length ? ` (${fmtParams(run.params)})` : ''}`;
  const stats =
    `${run.states.toLocaleString('en-US')} states, ${run.transitions.toLocaleString('en-US')} transitions, depth ${run.depth}, ` +
    `${(run.elapsedMs / 1000).toFixed(2)} s` +
    (run.limit ? `, stopped by ${run.limit}` : '');
  const warnings = run.warnings.length
    ? `<div class="warnings" id="warnings"><strong>Coverage and vacuity warnings</strong> — a property that cannot fail is a defect, not a pass:<ul>${run.warnings
        .map((w) => `<li>${esc(w)}</li>`)
        .join('')}</ul></div>`
    : '';
  const picker =
    traces.length > 1
      ? `<select id="which" aria-label="counterexample">${traces.map((t, i) => `<option value="${i}">${esc(t.kind === 'deadlock' ? 'deadlock' : t.invariant)}</option>`).join('')}</select>`
      : '';
  const traceUi = traces.length
    ? `
<div class="controls">
  ${picker}
  <button id="first" title="first step (Home)">« first</button>
  <button id="prev" title="previous step (←)">◀ prev</button>
  <span id="step-label"></span>
  <button id="next" title="next step (→)">next ▶</button>
  <button id="last" title="last step (End)">last »</button>
  <span class="muted">&nbsp;<kbd>←</kbd> <kbd>→</kbd> <kbd>Home</kbd> <kbd>End</kbd>, or click a step</span>
</div>
<div id="violation" hidden></div>
<div class="layout">
  <section><h2>Swimlanes</h2><table id="lanes"></table></section>
  <section>
    <h2>Step</h2><div class="desc mono" id="desc"></div>
    <h2>Invariants in this state</h2><ul id="invariants"></ul>
    <h2>State after this step <span class="muted">(changed by the step: highlighted)</span></h2><div class="state" id="state"></div>
  </section>
</div>`
    : `<p id="no-trace">${run.verdict === 'holds' ? 'Every invariant holds in every reachable state: there is no counterexample to show.' : 'No counterexample was found.'}</p>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${esc(run.model)} <span class="badge ${esc(run.verdict)}" id="verdict">${esc(run.verdict)}</span></h1>
<div class="muted mono">${esc(fmtParams(run.params) || 'default parameters')}${run.modelFile ? ` · ${esc(run.modelFile)}` : ''}</div>
<div class="muted">${esc(stats)} · invariants: ${esc(run.invariants.join(', ') || 'none')}</div>
${warnings}
${traceUi}
<script type="application/json" id="data">${embed({ run, traces })}</script>
<script>${JS}</script>
</body>
</html>
`;
}
