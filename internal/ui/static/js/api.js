// Talking to the service: the token kept for this browser tab, JSON requests with it, and
// the URLs of the event streams (EventSource cannot send headers, so those carry the token
// in access_token, which the service accepts on its stream routes only).

const TOKEN_KEY = 'jobs.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// claims reads the token's tenant and actor for display; the service verifies the token.
export function claims() {
  try {
    const payload = token().split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload));
  } catch {
    return {};
  }
}

// parse reads JSON as JSON.parse does, except that what jobs carry, their params and result,
// keeps every number as written: an id past 2^53 or a price of 1.50 would otherwise be shown
// rounded or reformatted. Such a number becomes a JSON.rawJSON value, which JSON.stringify
// writes back as it came; the service's own fields stay plain numbers.
export function parse(text) {
  const value = JSON.parse(text);
  if (!JSON.rawJSON) return value;
  const exact = JSON.parse(text, (key, v, context) => (typeof v === 'number' && context && String(v) !== context.source
    ? JSON.rawJSON(context.source) : v));
  const graft = (plain, same) => {
    if (plain === null || typeof plain !== 'object') return;
    for (const key of Object.keys(plain)) {
      if (key === 'params' || key === 'result') plain[key] = same[key];
      else graft(plain[key], same[key]);
    }
  };
  graft(value, exact);
  return value;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// onUnauthorized is called when the service rejects the token (main.js signs out).
let unauthorized = () => {};
export function onUnauthorized(fn) {
  unauthorized = fn;
}

// request sends a JSON request to /api/v1 + path and returns the decoded body: the envelope's
// data, or the whole body for the job list, which API.md leaves outside the envelope. A
// failure throws an ApiError with the service's message.
export async function request(method, path, body) {
  const headers = { Authorization: `Bearer ${token()}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, init);
  } catch (err) {
    throw new ApiError(0, `The service cannot be reached (${err.message}).`);
  }
  let payload = null;
  try {
    payload = parse(await resp.text());
  } catch {
    // an empty or non-JSON body; the status says the rest
  }
  if (!resp.ok) {
    const message = (payload && payload.message) || `${resp.status} ${resp.statusText}`;
    if (resp.status === 401) unauthorized(message);
    throw new ApiError(resp.status, message);
  }
  if (payload && typeof payload === 'object' && 'code' in payload && 'message' in payload) return payload.data;
  return payload;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);

export function streamURL(path) {
  return `/api/v1${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token())}`;
}

// query turns an object into a query string, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// devTokenInfo asks whether the service hands out development tokens, and for whom (null if
// not: outside a development config the route answers 404); fetchDevToken gets one.
export async function devTokenInfo() {
  try {
    const resp = await fetch('/ui/dev-token');
    return resp.ok ? (await resp.json()).data : null;
  } catch {
    return null;
  }
}

export async function fetchDevToken() {
  const resp = await fetch('/ui/dev-token', { method: 'POST' });
  const payload = await resp.json();
  if (!resp.ok) throw new ApiError(resp.status, payload.message);
  return payload.data.token;
}
