// app.js - the dashboard's shell: hash routes, the token form, the health banner.
//
// One HTML document; the part after "#" picks the page:
//   #/runs                         runs (live list)
//   #/runs/ID                      one run: tasks, Gantt, cancel/rerun
//   #/runs/ID/tasks/TASK/log       a task's output or error log, followed live
//   #/stacks, #/backends
// A page module exports render(main, params) and returns a cleanup function
// (close streams, stop timers) that runs when the user leaves the page.

import { api } from './api.js';
import { h, replace, errorBox } from './dom.js';
import { startLive, stopLive } from './live.js';
import * as runsPage from './pages/runs.js';
import * as runPage from './pages/run.js';
import * as logPage from './pages/log.js';
import * as stacksPage from './pages/stacks.js';
import * as backendsPage from './pages/backends.js';

const HEALTH_EVERY_MS = 30000;

const routes = [
  [/^\/runs\/?$/, runsPage, 'runs'],
  [/^\/runs\/([^/]+)\/?$/, runPage, 'runs'],
  [/^\/runs\/([^/]+)\/tasks\/([^/]+)\/log\/?$/, logPage, 'runs'],
  [/^\/stacks\/?$/, stacksPage, 'stacks'],
  [/^\/backends\/?$/, backendsPage, 'backends'],
];

const main = () => document.getElementById('main');
let cleanup = null;
let needLogin = false;

function leavePage() {
  if (cleanup) {
    try { cleanup(); } catch (_) { /* a page that fails to clean up must not block the next */ }
  }
  cleanup = null;
}

function route() {
  leavePage();
  if (needLogin) return showLogin();
  const path = location.hash.replace(/^#/, '') || '/runs';
  for (const [re, page, nav] of routes) {
    const m = path.match(re);
    if (!m) continue;
    document.querySelectorAll('[data-nav]').forEach((a) =>
      a.classList.toggle('active', a.dataset.nav === nav));
    const params = m.slice(1).map(decodeURIComponent);
    cleanup = page.render(main(), params) || null;
    return;
  }
  replace(main(), h('h1', {}, 'Not found'),
    h('p', {}, 'No page at ', h('code', {}, path), '. ', h('a', { href: '#/runs' }, 'Back to runs')));
}

// --- the token form --------------------------------------------------------

function showLogin(message) {
  leavePage();
  stopLive();
  needLogin = true;
  const input = h('input', { type: 'password', name: 'token', id: 'token', autocomplete: 'current-password',
    required: true, placeholder: 'API token', size: 40 });
  const status = h('div', { class: 'login-status' }, message ? errorBox(new Error(message)) : null);
  const form = h('form', { class: 'login', id: 'login-form' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'This server needs its API token. Open the login link ',
      h('code', {}, 'scripthut serve'), ' printed when it started (it works once), or paste the ',
      'token from the file ', h('code', {}, 'api_token'), ' in the server\'s data dir (or its ',
      h('code', {}, 'settings.api_token'), '). The browser keeps a session cookie for a day, ',
      'never the token itself.'),
    h('label', { for: 'token' }, 'Token '), input, ' ',
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(status);
    try {
      await api('POST', '/session', { body: { token: input.value } });
      needLogin = false;
      document.getElementById('logout').hidden = false;
      startLive();
      refreshHealth();
      route();
    } catch (err) {
      replace(status, errorBox(err, 'Sign-in failed'));
      input.select();
    }
  });
  replace(main(), form);
  input.focus();
}

async function logout() {
  try { await api('DELETE', '/session'); } catch (_) { /* the cookie goes either way */ }
  showLogin();
}

// --- health: version, engine, and a broken config shown prominently -------------

async function refreshHealth() {
  const banner = document.getElementById('banner');
  const info = document.getElementById('server-info');
  let health;
  try {
    health = await api('GET', '/health');
  } catch (err) {
    if (err.status === 401) return;
    replace(banner, h('div', { class: 'banner error' }, h('strong', {}, 'Server unreachable. '), err.message));
    return;
  }
  replace(info, `v${health.version}`, ' · engine ',
    health.engine && health.engine.running ? `pid ${health.engine.pid}` : 'not running');
  info.title = `data dir: ${health.data_dir || ''}`;
  const notes = [];
  if (!health.config_loaded)
    notes.push(h('div', { class: 'banner error', id: 'config-error' },
      h('strong', {}, 'Degraded: the configuration did not load. '),
      'The server answers, but runs, stacks and backends are unavailable until the file is fixed and ',
      h('code', {}, 'scripthut serve'), ' restarted.',
      h('pre', {}, health.config_error || '(no message)')));
  else if (health.engine && !health.engine.running)
    notes.push(h('div', { class: 'banner warn' }, 'The engine is not running: runs will not advance.'));
  replace(banner, notes);
}

async function boot() {
  document.getElementById('logout').addEventListener('click', logout);
  window.addEventListener('scripthut:unauthorized', (ev) => {
    if (!needLogin) showLogin(ev.detail);
  });
  window.addEventListener('hashchange', route);
  setInterval(() => { if (!needLogin) refreshHealth(); }, HEALTH_EVERY_MS);
  let session = { auth_required: false, authenticated: true };
  try {
    session = await api('GET', '/session');
  } catch (err) {
    replace(main(), errorBox(err, 'Cannot reach the server'));
    return;
  }
  document.getElementById('logout').hidden = !session.auth_required || !session.authenticated;
  if (session.auth_required && !session.authenticated) return showLogin();
  startLive();
  refreshHealth();
  route();
}

boot();
