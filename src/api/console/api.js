// The console's JSON API client (docs/console.md): every state-changing
// request carries the session's CSRF token; a failure becomes an ApiError
// with the catalogue fields of the answer.

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.errorId = body.error_id || '';
    this.explanation = body.explanation || '';
    this.action = body.action || '';
  }
}

// Called when an answer says the session is gone (401), so the app can show
// the sign-in form again.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

export async function request(method, path, body) {
  const headers = {Accept: 'application/json'};
  const options = {method, headers, credentials: 'same-origin', cache: 'no-store'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new ApiError(0, {
      message: 'The backup engine did not answer.',
      explanation: 'The console could not reach cbengine on this machine (' + e.message + ').',
      action: 'Check that the cbengine service is running, then reload this page.',
    });
  }
  const text = await response.text();
  let data = {};
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = {message: text};
    }
  }
  if (!response.ok || (data && data.ok === false)) {
    if (response.status === 401 && path !== '/api/login' && path !== '/api/session') onUnauthorized();
    throw new ApiError(response.status, data || {});
  }
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body = {}) => request('POST', path, body);
export const put = (path, body) => request('PUT', path, body);

// Query strings with encoded values; null/undefined/'' values are left out.
export function query(path, params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
  }
  return parts.length ? path + '?' + parts.join('&') : path;
}

let catalogue = null;
// The whole error catalogue (GET /api/errors), fetched once: fills in the
// explanation and action when an answer carried only the ID.
export async function errorCatalogue() {
  if (!catalogue) {
    try {
      const list = await get('/api/errors');
      catalogue = new Map((Array.isArray(list) ? list : list.errors || []).map((e) => [String(e.id), e]));
    } catch {
      return new Map();
    }
  }
  return catalogue;
}
