// pages/run.js - one run: its summary, Cancel / Rerun / Delete, the task
// table grouped by id prefix, and the Gantt of wait and run times.  Reloads
// the run detail when the event stream reports a transition of this run.

import { api, enc } from '../api.js';
import { h, replace, badge, progressBar, countChips, timeCell, fmtDuration, span, errorBox,
  flash, throttle, confirmButton, isActiveRun } from '../dom.js';
import { onEvent } from '../live.js';
import { taskTable } from '../task_table.js';
import { gantt } from '../gantt.js';

// The user's fold choices per run (group -> folded), kept while the tab is open.
const foldedByRun = new Map();

function field(label, value) {
  return value === null || value === undefined || value === '' ? null
    : h('div', { class: 'field' }, h('span', { class: 'label' }, label), h('span', {}, value));
}

export function render(main, [runId]) {
  const head = h('div', {}, h('h1', {}, 'Run ', h('span', { class: 'mono' }, runId)));
  const actions = h('div', { class: 'actions' });
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const folded = foldedByRun.get(runId) || new Map();
  foldedByRun.set(runId, folded);
  const logHref = (item) => `#/runs/${enc(runId)}/tasks/${enc(item.task.id)}/log`;
  let run = null;
  let closed = false;

  async function act(method, path, query, done) {
    try {
      const reply = await api(method, path, { query });
      done(reply);
    } catch (err) {
      flash(err.message, 'error');
    }
  }

  let actionsKey = null;
  function drawActions() {
    const active = isActiveRun(run);
    const anyFailed = (run.status_counts.failed || 0) + (run.status_counts.dep_failed || 0) +
      (run.status_counts.cancelled || 0) > 0;
    // Rebuilt only when the choice of buttons changes: a redraw between the
    // two presses of a confirm button must not disarm it.
    const key = `${active} ${run.cancel_requested} ${anyFailed}`;
    if (key === actionsKey) return;
    actionsKey = key;
    replace(actions,
      active && !run.cancel_requested ? confirmButton('Cancel run', 'Confirm cancel', () =>
        act('POST', `/runs/${enc(runId)}/cancel`, {}, () => { flash(`Cancel requested for run ${runId}.`); load(); }),
      'danger', 'cancel') : null,
      active && run.cancel_requested ? h('span', { class: 'muted' }, 'Cancelling… ') : null,
      !active ? h('button', { type: 'button', id: 'rerun', onclick: () =>
        act('POST', `/runs/${enc(runId)}/rerun`, {}, (r) => { flash(`Rerun started: run ${r.id}.`); location.hash = `#/runs/${enc(r.id)}`; }) },
      'Rerun') : null,
      !active && anyFailed ? h('button', { type: 'button', id: 'rerun-failed',
        title: 'a new run that keeps the completed tasks and reruns the rest', onclick: () =>
        act('POST', `/runs/${enc(runId)}/rerun`, { failed_only: true },
          (r) => { flash(`Rerun of the failed tasks started: run ${r.id}.`); location.hash = `#/runs/${enc(r.id)}`; }) },
      'Rerun failed') : null,
      !active ? confirmButton('Delete', 'Confirm delete', () =>
        act('DELETE', `/runs/${enc(runId)}`, {}, () => { flash(`Run ${runId} deleted.`); location.hash = '#/runs'; }),
      'danger subtle', 'delete') : null);
  }

  function draw() {
    const total = run.task_count || 0;
    const done = run.status_counts.completed || 0;
    const items = run.items || [];
    replace(head,
      h('div', { class: 'page-head' },
        h('h1', {}, h('a', { href: '#/runs', class: 'crumb' }, 'Runs'), ' / ',
          h('span', { class: 'mono' }, run.id), ' ', h('span', { class: 'wf' }, run.workflow_name)),
        badge(run.status), h('span', { id: 'run-status', class: 'visually-hidden' }, run.status),
        h('span', { class: 'spacer' }), actions),
      h('div', { class: 'fields' },
        field('Backend', run.backend_name),
        field('Created', timeCell(run.created_at)),
        field('Finished', run.finished_at ? timeCell(run.finished_at) : null),
        field('Duration', fmtDuration(span(run.created_at, isActiveRun(run) ? null : run.finished_at))),
        field('Max concurrent', run.max_concurrent),
        field('Rerun of', run.rerun_of ? h('a', { href: `#/runs/${enc(run.rerun_of)}` }, run.rerun_of) : null),
        field('Account', run.account),
        field('Git', run.git_repo ? `${run.git_repo} ${run.git_branch || ''} ${(run.commit_hash || '').slice(0, 10)}` : null),
        field('Logs', run.log_dir ? h('code', {}, run.log_dir) : null)),
      h('div', { class: 'run-progress' }, progressBar(run.status_counts, total),
        h('span', { class: 'small' }, `${done} of ${total} completed `), countChips(run.status_counts)));
    drawActions();
    replace(body,
      h('section', {}, h('h2', {}, 'Tasks'), taskTable(items, logHref, folded, draw)),
      items.length ? h('section', {}, h('h2', {}, 'Timeline'), gantt(run, items, logHref)) : null);
  }

  async function load() {
    try {
      const reply = await api('GET', `/runs/${enc(runId)}`);
      if (closed) return;
      run = reply;
      run.status_counts = run.status_counts || {};
      draw();
    } catch (err) {
      if (!closed) replace(body, errorBox(err, `Could not load run ${runId}`));
    }
  }

  replace(main, head, body);
  // A big run is heavy to fetch and draw: refresh it less often.
  const reload = throttle(load, () => (run && run.task_count > 2000 ? 3000 : 300));
  const unsubscribe = onEvent((ev) => { if (ev.run_id === runId) reload(); });
  // Running bars and durations grow with time.
  const tick = setInterval(() => { if (run && isActiveRun(run)) draw(); }, 5000);
  load();
  return () => { closed = true; unsubscribe(); clearInterval(tick); };
}
