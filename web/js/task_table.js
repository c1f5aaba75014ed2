// task_table.js - a run's tasks as a table, grouped by dotted id prefix:
// `sweep.a1`, `sweep.a2` sit under a `sweep` row that shows the group's
// progress and can be folded.  The prefix is everything before the last dot,
// so `sim.gpu.1` goes under `sim.gpu`; ids without a dot stand alone.

import { h, badge, progressBar, countChips, timeCell, fmtDuration, span, isTerminal } from './dom.js';

const COLUMNS = ['Task', 'State', 'Attempt', 'Job', 'Exit', 'Submitted', 'Waited', 'Ran', 'Note'];

export function groupKey(id) {
  const dot = id.lastIndexOf('.');
  return dot > 0 ? id.slice(0, dot) : null;
}

function waited(item) {
  if (!item.submitted_at) return null;
  return span(item.submitted_at, item.started_at || (isTerminal(item.status) ? item.finished_at : null));
}

function ran(item) {
  if (!item.started_at) return null;
  return span(item.started_at, item.finished_at || (isTerminal(item.status) ? item.started_at : null));
}

function note(item) {
  if (item.error) return h('span', { class: 'err-text' }, item.error);
  if (item.retry_at) return h('span', { class: 'muted' }, `retry at `, timeCell(item.retry_at));
  if (item.scheduler_state && !isTerminal(item.status)) return h('span', { class: 'muted' }, item.scheduler_state);
  return null;
}

function taskRow(item, hrefFor, grouped) {
  const t = item.task;
  const retries = t.retries ? `/${t.retries + 1}` : '';
  return h('tr', { class: grouped ? 'in-group' : '', dataset: { taskId: t.id, status: item.status } },
    h('td', { class: 'mono task-id' }, h('a', { href: hrefFor(item), title: t.command }, t.id),
      t.name && t.name !== t.id ? h('span', { class: 'muted small' }, ` ${t.name}`) : null),
    h('td', {}, badge(item.status)),
    h('td', { class: 'num' }, item.attempt ? `${item.attempt}${retries}` : ''),
    h('td', { class: 'mono' }, item.job_id || ''),
    h('td', { class: 'num' }, item.exit_code ?? ''),
    h('td', {}, timeCell(item.submitted_at)),
    h('td', { class: 'num' }, fmtDuration(waited(item))),
    h('td', { class: 'num' }, fmtDuration(ran(item))),
    h('td', { class: 'note' }, note(item)));
}

function groupRow(key, items, folded, toggle) {
  const counts = {};
  for (const it of items) counts[it.status] = (counts[it.status] || 0) + 1;
  return h('tr', { class: 'group', dataset: { group: key } },
    h('td', { colspan: 2 },
      h('button', { type: 'button', class: 'link fold', 'aria-expanded': String(!folded), onclick: toggle },
        folded ? '▸ ' : '▾ ', h('span', { class: 'mono' }, `${key}.*`),
        h('span', { class: 'muted small' }, ` ${items.length} tasks`))),
    h('td', { colspan: 4 }, progressBar(counts, items.length)),
    h('td', { colspan: 3 }, countChips(counts)));
}

// Groups bigger than this start folded, and at most MAX_ROWS task rows are
// drawn: a run of 100k tasks must stay a table one can scroll.
const FOLD_ABOVE = 50;
const MAX_ROWS = 2000;

// folded: Map group key -> folded?, the user's choices, kept by the caller
// across redraws.
export function taskTable(items, hrefFor, folded, redraw) {
  const order = [];
  const groups = new Map();
  for (const item of items) {
    const key = groupKey(item.task.id);
    if (key === null) { order.push({ item }); continue; }
    if (!groups.has(key)) { groups.set(key, []); order.push({ key }); }
    groups.get(key).push(item);
  }
  const body = [];
  let rows = 0, hidden = 0;
  const addTask = (item, grouped) => {
    if (rows >= MAX_ROWS) { hidden++; return; }
    rows++;
    body.push(taskRow(item, hrefFor, grouped));
  };
  for (const entry of order) {
    if (entry.item) { addTask(entry.item, false); continue; }
    const members = groups.get(entry.key);
    // A lone dotted id is not worth a group row.
    if (members.length === 1) { addTask(members[0], false); continue; }
    const isFolded = folded.has(entry.key) ? folded.get(entry.key) : members.length > FOLD_ABOVE;
    body.push(groupRow(entry.key, members, isFolded, () => {
      folded.set(entry.key, !isFolded);
      redraw();
    }));
    if (!isFolded) for (const it of members) addTask(it, true);
  }
  if (hidden)
    body.push(h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted' },
      `${hidden} more tasks not shown: fold some groups to see the rest.`)));
  return h('table', { class: 'grid tasks', id: 'task-table' },
    h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', {}, c)))),
    h('tbody', {}, body));
}
