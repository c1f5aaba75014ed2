// pages/backends.js - each backend of GET /api/v1/backends: name, type and
// connection state first, then every other field the server reports, rendered
// by shape (a list of records, e.g. a command log, becomes a table; a nested
// record becomes a nested field list).  The endpoint grows new fields over
// time, and this page shows them without knowing their names.

import { api } from '../api.js';
import { h, replace, timeCell, errorBox } from '../dom.js';

const REFRESH_MS = 10000;
const FIRST = ['name', 'type', 'connected'];
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;
const isErrorKey = (k) => /error|fail/i.test(k);
const label = (k) => k.replace(/_/g, ' ');

function scalar(key, v) {
  if (v === null || v === undefined) return h('span', { class: 'muted' }, '—');
  if (typeof v === 'boolean') return h('span', { class: v ? 'yes' : 'no' }, v ? 'yes' : 'no');
  if (typeof v === 'string' && ISO_TIME.test(v)) return timeCell(v);
  const text = String(v);
  if (isErrorKey(key) && typeof v === 'string' && text) return h('span', { class: 'err-text' }, text);
  return text.includes('\n') ? h('pre', { class: 'inline' }, text) : text;
}

function value(key, v) {
  if (Array.isArray(v)) {
    if (!v.length) return h('span', { class: 'muted' }, 'none');
    if (v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) return recordTable(v);
    return v.map((x) => scalar(key, x)).reduce((acc, el, i) => (i ? [...acc, ', ', el] : [el]), []);
  }
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    // A record of plain values (counters) reads best on one line.
    if (entries.every(([, x]) => x === null || typeof x !== 'object'))
      return h('div', { class: 'kv-inline' }, entries.map(([k, x]) =>
        h('span', { dataset: { field: k } }, h('span', { class: 'muted' }, label(k)), ' ', scalar(k, x))));
    return fieldList(v, []);
  }
  return scalar(key, v);
}

function recordTable(rows) {
  const cols = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return h('div', { class: 'scroll' }, h('table', { class: 'grid compact' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, label(c))))),
    h('tbody', {}, rows.map((r) => h('tr', {}, cols.map((c) => {
      const v = r[c];
      return h('td', { class: typeof v === 'string' && v.length > 60 ? 'mono wrap' : 'mono' },
        v && typeof v === 'object' ? JSON.stringify(v) : scalar(c, v));
    }))))));
}

function fieldList(obj, skip) {
  const entries = Object.entries(obj).filter(([k]) => !skip.includes(k));
  // Short values first, then the tables and nested records, which need room.
  const big = ([, v]) => (v && typeof v === 'object' ? 1 : 0);
  entries.sort((a, b) => big(a) - big(b));
  return h('dl', { class: 'kv' }, entries.map(([k, v]) => [
    h('dt', { class: isErrorKey(k) && typeof v === 'string' && v ? 'err-text' : '' }, label(k)),
    h('dd', { dataset: { field: k } }, value(k, v)),
  ]));
}

function backendCard(b) {
  const connected = b.connected;
  return h('section', { class: 'card', dataset: { backend: b.name } },
    h('div', { class: 'card-head' },
      h('h2', {}, b.name), h('span', { class: 'muted' }, b.type),
      h('span', { class: 'spacer' }),
      connected === undefined ? null
        : h('span', { class: `badge ${connected ? 's-completed' : 's-failed'}` },
          connected ? 'connected' : 'not connected')),
    fieldList(b, FIRST));
}

export function render(main) {
  const list = h('div', { id: 'backends' }, h('p', { class: 'muted' }, 'Loading backends…'));
  const stamp = h('span', { class: 'small muted' });
  let closed = false;

  async function load() {
    try {
      const reply = await api('GET', '/backends');
      if (closed) return;
      const backends = reply.backends || [];
      replace(list, backends.length ? backends.map(backendCard)
        : h('p', { class: 'muted' }, 'No backends configured.'));
      stamp.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (!closed) replace(list, errorBox(err, 'Could not list backends'));
    }
  }

  replace(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Backends'), h('span', { class: 'spacer' }), stamp,
      h('button', { type: 'button', onclick: load }, 'Refresh')),
    list);
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => { closed = true; clearInterval(timer); };
}
