// dom.js - building elements and formatting values.
//
// Elements are built with h() (never innerHTML), so text from the server can
// never become markup, and no inline style attribute is written: the CSP
// forbids them; widths and positions are set through element.style (CSSOM),
// which the CSP allows.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style') Object.assign(el.style, v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// --- time -----------------------------------------------------------------

export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

const pad = (n) => String(n).padStart(2, '0');

// "14:03:07" today, "Nov 25 14:03" this year, "2025-11-25 14:03" before.
export function fmtTime(iso) {
  const t = parseTime(iso);
  if (t === null) return '';
  const d = new Date(t), now = new Date();
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.toDateString() === now.toDateString()) return `${hm}:${pad(d.getSeconds())}`;
  const month = d.toLocaleString('en', { month: 'short' });
  if (d.getFullYear() === now.getFullYear()) return `${month} ${d.getDate()} ${hm}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

// Seconds -> "0.4s", "12s", "3m 05s", "2h 04m", "3d 02h".
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '';
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(Math.round(s % 60))}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${pad(m % 60)}m`;
  return `${Math.floor(hours / 24)}d ${pad(hours % 24)}h`;
}

// Seconds between two ISO times; an unfinished span runs to now.
export function span(fromIso, toIso) {
  const a = parseTime(fromIso);
  if (a === null) return null;
  const b = toIso ? parseTime(toIso) : Date.now();
  return b === null ? null : Math.max(0, (b - a) / 1000);
}

export function timeCell(iso) {
  return h('time', { datetime: iso || '', title: iso || '' }, fmtTime(iso));
}

// --- states -----------------------------------------------------------------

// Display order of task states, earliest in the life of a task first.
export const TASK_STATES = ['pending', 'submitting', 'submitted', 'queued', 'running',
  'completed', 'failed', 'dep_failed', 'cancelled'];
const TERMINAL = new Set(['completed', 'failed', 'dep_failed', 'cancelled']);

export const isTerminal = (state) => TERMINAL.has(state);
export const isActiveRun = (run) => !['completed', 'failed', 'cancelled'].includes(run.status);

export function badge(state) {
  return h('span', { class: `badge s-${state || 'unknown'}` }, (state || 'unknown').replace('_', ' '));
}

// Left to right in a progress bar: what is over, then what runs, then what waits.
const BAR_ORDER = ['completed', 'failed', 'dep_failed', 'cancelled', 'running', 'queued',
  'submitted', 'submitting', 'pending'];

// A bar split by task state: green done, red failed, blue running, grey waiting.
export function progressBar(counts, total) {
  const bar = h('div', { class: 'progress', role: 'img' });
  const parts = [];
  for (const state of BAR_ORDER) {
    const n = counts[state] || 0;
    if (!n || !total) continue;
    const seg = h('span', { class: `seg s-${state}`, title: `${state}: ${n}` });
    seg.style.width = `${(100 * n) / total}%`;
    bar.append(seg);
    parts.push(`${n} ${state}`);
  }
  bar.setAttribute('aria-label', parts.join(', ') || 'no tasks');
  return bar;
}

export function countChips(counts) {
  return h('span', { class: 'chips' },
    TASK_STATES.filter((s) => counts[s]).map((s) =>
      h('span', { class: `chip s-${s}`, title: s }, `${counts[s]} ${s.replace('_', ' ')}`)));
}

// --- messages ---------------------------------------------------------------

export function errorBox(err, what) {
  return h('div', { class: 'error-box', role: 'alert' },
    what ? h('strong', {}, `${what}: `) : null, err.message || String(err));
}

let flashTimer = null;
// A short message under the header; errors stay until the next message.
export function flash(message, kind = 'info', ...extra) {
  const el = document.getElementById('flash');
  clearTimeout(flashTimer);
  replace(el, h('div', { class: `flash ${kind}` }, message, ...extra,
    h('button', { type: 'button', class: 'link close', 'aria-label': 'dismiss',
      onclick: () => el.replaceChildren() }, '×')));
  if (kind !== 'error') flashTimer = setTimeout(() => el.replaceChildren(), 8000);
}

// Coalesces bursts: the first call schedules fn after `ms` (a number, or a
// function returning one), and calls until then ride along.  Unlike a
// debounce, a steady stream of events (a run of 100k tasks) still gets a
// call every `ms`, never starves.
export function throttle(fn, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; fn(); }, typeof ms === 'function' ? ms() : ms);
  };
}

// A button that asks "sure?" on its first press and acts on the second.
export function confirmButton(label, confirmLabel, action, cls = '', id = null) {
  let armed = false, timer = null;
  const btn = h('button', { type: 'button', class: cls, id });
  btn.textContent = label;
  btn.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      btn.textContent = confirmLabel;
      btn.classList.add('armed');
      timer = setTimeout(() => { armed = false; btn.textContent = label; btn.classList.remove('armed'); }, 5000);
      return;
    }
    clearTimeout(timer);
    armed = false;
    btn.disabled = true;
    try { await action(); } finally {
      btn.disabled = false;
      btn.textContent = label;
      btn.classList.remove('armed');
    }
  });
  return btn;
}
