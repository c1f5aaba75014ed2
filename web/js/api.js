// api.js - the one way the dashboard talks to the server: JSON over /api/v1.
//
// Every call sends the session cookie (set by POST /session when the server has
// a token), and every mutating call sends Content-Type: application/json, which
// the server demands of POST and DELETE (guard.c: no cross-site form can act).
// A failed call throws ApiError carrying the server's {"detail": ...} text, so
// a page can show the user what went wrong; a 401 also tells the app to ask
// for the token.

const TIMEOUT_MS = 30000;

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function url(path, query) {
  const u = new URL('/api/v1' + path, location.origin);
  for (const [k, v] of Object.entries(query || {}))
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
  return u;
}

async function errorDetail(response) {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    if (body && body.detail !== undefined)
      return typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
  } catch (_) { /* not JSON: fall through to the raw text */ }
  return text.trim() || `${response.status} ${response.statusText}`;
}

// api('GET', '/runs', {query: {limit: 50}}), api('POST', '/runs/x/cancel'),
// api('POST', '/session', {body: {token}}).
export async function api(method, path, { query, body } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD') {
    headers['Content-Type'] = 'application/json';
    if (body !== undefined) init.body = JSON.stringify(body);
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  init.signal = abort.signal;
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (err) {
    const why = err.name === 'AbortError' ? `no answer in ${TIMEOUT_MS / 1000} s` : err.message;
    throw new ApiError(0, `${method} ${path}: the server cannot be reached (${why})`);
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    const detail = await errorDetail(response);
    if (response.status === 401 && path !== '/session')
      window.dispatchEvent(new CustomEvent('scripthut:unauthorized', { detail }));
    throw new ApiError(response.status, detail);
  }
  if (response.status === 204) return null;
  return response.json();
}

// The path of an SSE endpoint, for EventSource (which sends the cookie itself).
export function streamUrl(path, query) {
  return url(path, query).toString();
}

export const enc = encodeURIComponent;
