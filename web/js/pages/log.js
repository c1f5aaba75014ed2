// pages/log.js - one task's output or error log.  A finished task's log is
// read once (its last TAIL_LINES lines); an active task's log is followed over
// the SSE log endpoint (GET .../logs?follow=true), which sends the text so far,
// then each addition, and `end` with the final status when the task is done.

import { api, enc, streamUrl } from '../api.js';
import { h, replace, badge, timeCell, fmtDuration, span, errorBox, isTerminal } from '../dom.js';

const TAIL_LINES = 10000;

function field(label, value) {
  return value === null || value === undefined || value === '' ? null
    : h('div', { class: 'field' }, h('span', { class: 'label' }, label), h('span', {}, value));
}

export function render(main, [runId, taskId]) {
  let type = 'output';
  const info = h('div', {});
  const status = h('span', { class: 'small muted', id: 'log-status' });
  const pre = h('pre', { class: 'log', id: 'log-text', tabindex: 0 });
  const followBox = h('input', { type: 'checkbox', id: 'follow', checked: true });
  const tabs = h('div', { class: 'tabs', role: 'tablist' });
  let item = null;
  let stream = null;
  let closed = false;

  function stopStream() {
    if (stream) stream.close();
    stream = null;
  }

  function nearBottom() {
    return pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  }

  function addText(text, reset) {
    const stick = nearBottom();
    if (reset) pre.replaceChildren();
    if (text) pre.append(document.createTextNode(text));
    if (stick) pre.scrollTop = pre.scrollHeight;
  }

  function drawTabs() {
    replace(tabs, ['output', 'error'].map((t) => h('button', {
      type: 'button', role: 'tab', class: t === type ? 'tab active' : 'tab', 'aria-selected': String(t === type),
      id: `tab-${t}`, onclick: () => { if (type !== t) { type = t; drawTabs(); show(); } },
    }, t === 'output' ? 'Output' : 'Error')));
  }

  function drawInfo() {
    const t = item.task;
    const path = type === 'error' ? item.error_path : item.output_path;
    replace(info,
      h('div', { class: 'page-head' },
        h('h1', {}, h('a', { href: '#/runs', class: 'crumb' }, 'Runs'), ' / ',
          h('a', { href: `#/runs/${enc(runId)}`, class: 'crumb mono' }, runId), ' / ',
          h('span', { class: 'mono' }, t.id)),
        badge(item.status)),
      h('div', { class: 'fields' },
        field('Job', item.job_id),
        field('Attempt', item.attempt ? `${item.attempt} of ${(t.retries || 0) + 1}` : null),
        field('Exit code', item.exit_code),
        field('Submitted', item.submitted_at ? timeCell(item.submitted_at) : null),
        field('Ran', item.started_at ? fmtDuration(span(item.started_at, item.finished_at)) : null),
        field('Resources', [t.cpus ? `${t.cpus} cpu` : '', t.memory || '', t.time_limit || '',
          t.partition ? `partition ${t.partition}` : ''].filter(Boolean).join(' · ')),
        field('File', path ? h('code', {}, path) : null)),
      item.error ? h('div', { class: 'error-box' }, item.error) : null,
      h('details', { class: 'command' }, h('summary', {}, 'Command'), h('pre', {}, t.command)),
      item.submit_script ? h('details', { class: 'command' }, h('summary', {}, 'Submit script'),
        h('pre', {}, item.submit_script)) : null);
  }

  async function loadItem() {
    const run = await api('GET', `/runs/${enc(runId)}`);
    const found = (run.items || []).find((it) => it.task.id === taskId);
    if (!found) throw new Error(`Run ${runId} has no task '${taskId}'`);
    item = found;
    if (!closed) drawInfo();
  }

  async function readOnce() {
    try {
      const reply = await api('GET', `/runs/${enc(runId)}/tasks/${enc(taskId)}/logs`,
        { query: { type, tail: TAIL_LINES } });
      if (closed) return;
      addText(reply.content, true);
      const lines = (reply.content.match(/\n/g) || []).length;
      status.textContent = reply.content ? (lines >= TAIL_LINES ? `last ${TAIL_LINES} lines` : '')
        : `(the ${type} log is empty)`;
    } catch (err) {
      if (!closed) replace(pre, errorBox(err, `Could not read the ${type} log`));
    }
  }

  function follow() {
    stopStream();
    pre.replaceChildren();
    status.textContent = item.status === 'pending' || item.status === 'submitting'
      ? 'following (the task has not started yet)…' : 'following…';
    const es = new EventSource(streamUrl(`/runs/${enc(runId)}/tasks/${enc(taskId)}/logs`,
      { type, follow: true }));
    stream = es;
    es.addEventListener('log', (m) => {
      const data = JSON.parse(m.data);
      addText(data.content, data.reset);
    });
    es.addEventListener('end', async (m) => {
      const data = JSON.parse(m.data);
      stopStream();
      status.textContent = `task ended: ${data.status}`;
      try { await loadItem(); } catch (_) { /* the log stays; the header may be stale */ }
    });
    es.onerror = () => {
      // The server answered with an error (e.g. too many streams): read once instead.
      if (es.readyState === EventSource.CLOSED && stream === es) {
        stopStream();
        status.textContent = 'live follow unavailable; showing the log as it is now';
        readOnce();
      }
    };
  }

  function show() {
    stopStream();
    if (!item) return;
    drawInfo();
    if (!isTerminal(item.status) && followBox.checked) follow();
    else readOnce();
  }

  followBox.addEventListener('change', show);
  drawTabs();
  replace(main, info,
    h('div', { class: 'log-bar' }, tabs, h('span', { class: 'spacer' }),
      h('label', { class: 'small' }, followBox, ' follow while running'), status),
    pre);

  loadItem().then(show).catch((err) => { if (!closed) replace(info, errorBox(err, 'Could not load the task')); });
  return () => { closed = true; stopStream(); };
}
