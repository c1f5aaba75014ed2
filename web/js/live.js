// live.js - the dashboard's one stream of store events (GET /api/v1/events).
//
// The server caps open streams (each holds a worker thread), so every page
// shares this one EventSource and filters by run id itself.  EventSource
// reconnects on its own after a network error (sending Last-Event-ID); when it
// gives up (the server answered with an error, e.g. 401 or 503) we open a new
// one after a pause, resuming after the last event seen.

import { streamUrl } from './api.js';

const RETRY_MS = 5000;
const listeners = new Set();
let source = null;
let retryTimer = null;
let lastSeq = null;

function indicator(connected) {
  const el = document.getElementById('live');
  if (!el) return;
  el.classList.toggle('off', !connected);
  el.title = connected ? 'live updates: connected' : 'live updates: reconnecting…';
}

function deliver(message) {
  let event;
  try { event = JSON.parse(message.data); } catch (_) { return; }
  if (event && typeof event.seq === 'number') lastSeq = event.seq;
  for (const fn of listeners) fn(event);
}

export function startLive() {
  if (source) return;
  clearTimeout(retryTimer);
  source = new EventSource(streamUrl('/events', lastSeq === null ? {} : { last_event_id: lastSeq }));
  source.addEventListener('run', deliver);
  source.addEventListener('task', deliver);
  source.onopen = () => indicator(true);
  source.onerror = () => {
    indicator(false);
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      retryTimer = setTimeout(startLive, RETRY_MS);
    }
  };
}

export function stopLive() {
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
  indicator(false);
}

// onEvent(fn) -> unsubscribe; fn gets {seq, ts, run_id, task_id, from, to, detail}.
export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
