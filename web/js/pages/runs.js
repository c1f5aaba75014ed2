// pages/runs.js - the runs list: one row per run with its status, a progress
// bar split by task state, and counts; refreshed whenever the event stream
// reports a transition (no reload, no polling while nothing happens).

import { api } from '../api.js';
import { h, replace, badge, progressBar, countChips, timeCell, fmtDuration, span,
  errorBox, throttle, isActiveRun } from '../dom.js';
import { onEvent } from '../live.js';

const LIMITS = [50, 200, 0];
// Remembered across visits to the page within this tab.
const view = { filter: '', limit: 50 };

function runRow(run) {
  const total = run.task_count || 0;
  const done = (run.status_counts && run.status_counts.completed) || 0;
  const duration = span(run.created_at, isActiveRun(run) ? null : run.finished_at);
  return h('tr', { dataset: { runId: run.id, status: run.status } },
    h('td', { class: 'mono' }, h('a', { href: `#/runs/${encodeURIComponent(run.id)}` }, run.id)),
    h('td', { class: 'wf' }, run.workflow_name,
      run.rerun_of ? h('span', { class: 'muted small' }, ` rerun of ${run.rerun_of}`) : null),
    h('td', {}, run.backend_name),
    h('td', {}, badge(run.status), run.cancel_requested && isActiveRun(run)
      ? h('span', { class: 'muted small' }, ' cancelling') : null),
    h('td', {}, h('div', { class: 'progress-cell' }, progressBar(run.status_counts || {}, total),
      h('span', { class: 'small muted' }, `${done}/${total}`))),
    h('td', {}, countChips(run.status_counts || {})),
    h('td', {}, timeCell(run.created_at)),
    h('td', { class: 'num' }, fmtDuration(duration)));
}

function summary(runs) {
  const by = {};
  for (const r of runs) by[r.status] = (by[r.status] || 0) + 1;
  return h('span', { class: 'chips' },
    ['running', 'pending', 'failed', 'completed', 'cancelled'].filter((s) => by[s])
      .map((s) => h('span', { class: `chip s-${s}` }, `${by[s]} ${s}`)));
}

export function render(main) {
  const tableBox = h('div', { id: 'runs-table' }, h('p', { class: 'muted' }, 'Loading runs…'));
  const counts = h('span');
  const filter = h('input', { type: 'search', placeholder: 'filter by workflow, id, backend',
    value: view.filter, 'aria-label': 'filter runs' });
  const limit = h('select', { 'aria-label': 'how many runs' },
    LIMITS.map((n) => h('option', { value: n, selected: n === view.limit }, n ? `last ${n}` : 'all')));
  let runs = [];
  let closed = false;

  function draw() {
    const f = view.filter.trim().toLowerCase();
    const shown = f ? runs.filter((r) =>
      [r.id, r.workflow_name, r.backend_name, r.status].some((v) => String(v).toLowerCase().includes(f)))
      : runs;
    replace(counts, summary(runs));
    if (!runs.length) {
      replace(tableBox, h('div', { class: 'empty' },
        h('p', {}, 'No runs yet.'),
        h('p', { class: 'muted' }, 'Submit one with ', h('code', {}, 'scripthut workflow run NAME'),
          ' or ', h('code', {}, 'scripthut task run -- COMMAND'), '; it appears here at once.')));
      return;
    }
    replace(tableBox, h('table', { class: 'grid runs' },
      h('thead', {}, h('tr', {}, ['Run', 'Workflow', 'Backend', 'Status', 'Progress', 'Tasks',
        'Created', 'Duration'].map((t) => h('th', {}, t)))),
      h('tbody', {}, shown.map(runRow))));
  }

  async function load() {
    try {
      const reply = await api('GET', '/runs', { query: { limit: view.limit } });
      if (closed) return;
      runs = reply.runs || [];
      draw();
    } catch (err) {
      if (!closed) replace(tableBox, errorBox(err, 'Could not list runs'));
    }
  }

  filter.addEventListener('input', () => { view.filter = filter.value; draw(); });
  limit.addEventListener('change', () => { view.limit = Number(limit.value); load(); });

  replace(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Runs'), counts, h('span', { class: 'spacer' }),
      filter, limit),
    tableBox);

  const reload = throttle(load, 300);
  const unsubscribe = onEvent(reload);
  // Durations of active runs grow: redraw them now and then.
  const tick = setInterval(() => { if (runs.some(isActiveRun)) draw(); }, 5000);
  load();
  return () => { closed = true; unsubscribe(); clearInterval(tick); };
}
