// pages/stacks.js - the stacks of the server's config and their state on each
// backend (GET /stacks, then GET /stacks/check, which may take a while over
// SSH), with Install, Rebuild and Check per stack and backend.  An install is
// a run: the page links to it.

import { api, enc } from '../api.js';
import { h, replace, badge, timeCell, errorBox, flash, confirmButton } from '../dom.js';

function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function render(main) {
  const list = h('div', { id: 'stacks' }, h('p', { class: 'muted' }, 'Loading stacks…'));
  let stacks = [];
  // "stack\0backend" -> check row, or {pending: true} while a check runs.
  const checks = new Map();
  let checkError = null;
  let closed = false;

  const key = (stack, backend) => `${stack}\0${backend}`;

  async function install(name, backend, rebuild) {
    try {
      const run = await api('POST', `/stacks/${enc(name)}/install`, { query: { backend, rebuild: rebuild || undefined } });
      flash(`${rebuild ? 'Rebuild' : 'Install'} of ${name} on ${run.backend_name} started: `, 'info',
        h('a', { href: `#/runs/${enc(run.id)}` }, `run ${run.id}`));
    } catch (err) {
      flash(err.message, 'error');
    }
  }

  async function checkOne(name, backend) {
    checks.set(key(name, backend), { stack: name, backend, pending: true });
    draw();
    try {
      const reply = await api('GET', `/stacks/${enc(name)}/check`, { query: { backend } });
      // With a backend the reply is the status object itself (the original's
      // shape, docs/api.md); without, {checks: [rows]}.
      const rows = reply.checks || [{ stack: name, backend, status: reply, note: reply.note }];
      for (const row of rows) checks.set(key(row.stack, row.backend), row);
    } catch (err) {
      checks.set(key(name, backend), { stack: name, backend, note: err.message, status: { state: 'unknown' } });
    }
    if (!closed) draw();
  }

  function stateRow(stack, row) {
    const st = row.status || {};
    const backend = row.backend;
    return h('tr', { dataset: { stack: stack.name, backend } },
      h('td', {}, backend),
      h('td', {}, row.pending ? h('span', { class: 'muted' }, 'checking…') : badge(st.state)),
      h('td', { class: 'mono small' }, st.path || ''),
      h('td', {}, st.last_built ? timeCell(st.last_built) : ''),
      h('td', { class: 'num' }, fmtBytes(st.size_bytes)),
      h('td', { class: 'note' }, st.locked ? 'an install holds the lock ' : '',
        row.note || st.error ? h('span', { class: 'err-text' }, row.note || st.error) : ''),
      h('td', {}, h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'small', onclick: () => install(stack.name, backend, false) }, 'Install'),
        confirmButton('Rebuild', 'Confirm rebuild', () => install(stack.name, backend, true), 'small'),
        h('button', { type: 'button', class: 'small', onclick: () => checkOne(stack.name, backend) }, 'Check'))));
  }

  function stackCard(stack) {
    const rows = [...checks.values()].filter((r) => r.stack === stack.name);
    const inputs = Object.entries(stack.inputs || {}).map(([k, v]) => `${k}=${v}`).join(', ');
    return h('section', { class: 'card', dataset: { stack: stack.name } },
      h('div', { class: 'card-head' }, h('h2', {}, stack.name),
        h('span', { class: 'mono small muted' }, stack.hash), h('span', { class: 'spacer' }),
        h('span', { class: 'small muted' }, stack.defined_at || '')),
      h('div', { class: 'fields' },
        h('div', { class: 'field' }, h('span', { class: 'label' }, 'Cache'), h('code', {}, stack.cache_dir)),
        h('div', { class: 'field' }, h('span', { class: 'label' }, 'Backends'),
          (stack.backends || []).length ? stack.backends.join(', ') : 'any'),
        h('div', { class: 'field' }, h('span', { class: 'label' }, 'Resources'),
          [`${stack.cpus} cpu`, stack.memory, stack.time_limit, stack.partition].filter(Boolean).join(' · ')),
        inputs ? h('div', { class: 'field' }, h('span', { class: 'label' }, 'Inputs'), inputs) : null),
      rows.length
        ? h('table', { class: 'grid' },
          h('thead', {}, h('tr', {}, ['Backend', 'State', 'Path', 'Built', 'Size', 'Note', ''].map((t) => h('th', {}, t)))),
          h('tbody', {}, rows.map((r) => stateRow(stack, r))))
        : h('p', { class: 'muted small' }, checkError ? '' : 'checking…'),
      h('details', { class: 'command' }, h('summary', {}, 'Prep script'), h('pre', {}, stack.prep || '(empty)')));
  }

  function draw() {
    if (!stacks.length) {
      replace(list, h('div', { class: 'empty' }, h('p', {}, 'No stacks in the server\'s config.'),
        h('p', { class: 'muted' }, 'Define one with ', h('code', {}, 'stack "name" { prep = ... }'),
          ' (see docs/stacks.md).')));
      return;
    }
    replace(list, checkError ? errorBox(checkError, 'Could not check the stacks') : null, stacks.map(stackCard));
  }

  async function load() {
    try {
      stacks = (await api('GET', '/stacks')).stacks || [];
    } catch (err) {
      if (!closed) replace(list, errorBox(err, 'Could not list stacks'));
      return;
    }
    if (closed) return;
    draw();
    try {
      const reply = await api('GET', '/stacks/check');
      checks.clear();
      checkError = null;
      for (const row of reply.checks || []) {
        row.stack = row.stack || row.status.name;
        checks.set(key(row.stack, row.backend), row);
      }
    } catch (err) {
      checkError = err;
    }
    if (!closed) draw();
  }

  replace(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Stacks'), h('span', { class: 'spacer' }),
      h('button', { type: 'button', id: 'check-all', onclick: load }, 'Check all')),
    list);
  load();
  return () => { closed = true; };
}
