// The API client. The token lives in sessionStorage (gone when the tab closes) and only ever
// travels in the Authorization header: never in a URL, so it is in no history, log or Referer.
// A 401 forgets the token and asks for it again (the listeners in app.js show the prompt).

const KEY = 'airlock.token';

export function getToken() {
  return sessionStorage.getItem(KEY) || '';
}

export function setToken(t) {
  sessionStorage.setItem(KEY, t);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const unauthorizedListeners = new Set();
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
}

// The raw request: returns the Response (any status but 401, which throws after telling the
// listeners). opts: {method, body, headers, signal, auth (default true)}.
export async function request(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  if (opts.auth !== false) {
    const t = getToken();
    if (!t) {
      unauthorizedListeners.forEach((fn) => fn('missing'));
      throw new ApiError(401, 'unauthorized', 'No API token: enter it to continue.');
    }
    headers.set('Authorization', `Bearer ${t}`);
  }
  let body = opts.body;
  if (body !== undefined && !(body instanceof Blob) && !(body instanceof ArrayBuffer) && typeof body !== 'string') {
    body = JSON.stringify(body);
    headers.set('Content-Type', 'application/json');
  }
  const resp = await fetch(path, {
    method: opts.method || 'GET',
    headers,
    body,
    signal: opts.signal,
    cache: 'no-store',
    credentials: 'omit',
    redirect: 'error',
    referrerPolicy: 'no-referrer',
  });
  if (resp.status === 401 && opts.auth !== false) {
    clearToken();
    unauthorizedListeners.forEach((fn) => fn('rejected'));
    throw new ApiError(401, 'unauthorized', 'The daemon refused the token (401 unauthorized).');
  }
  return resp;
}

// Turns an error answer into an ApiError with the daemon's message.
export async function failure(resp) {
  let code = 'http_' + resp.status, message = `${resp.status} ${resp.statusText}`;
  try {
    const j = await resp.json();
    if (j && j.error) {
      code = String(j.error.code || code);
      message = `${resp.status} ${code}: ${j.error.message || ''}`;
    }
  } catch { /* not JSON */ }
  return new ApiError(resp.status, code, message);
}

// JSON request: the parsed body of a 2xx answer, else throws an ApiError.
export async function json(path, opts = {}) {
  const resp = await request(path, opts);
  if (!resp.ok) throw await failure(resp);
  return resp.json();
}

// Downloads with the token (fetch + Blob + a temporary object URL): the token is never put in
// a URL, so a plain <a href> to the API cannot be used.
export async function download(path, filename, signal) {
  const resp = await request(path, { signal });
  if (!resp.ok) throw await failure(resp);
  const blob = await resp.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return blob;
}
