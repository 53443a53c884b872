// The dashboard's entry point: the hash router (#/jobs, #/jobs/<id>, #/new, #/workspaces,
// #/workspaces/<id>, #/policies, #/policies/<name>, #/health), the token prompt, and the life of
// each view: a view gets a context whose AbortSignal ends its requests and polling loops when the
// user goes elsewhere. No data from the API is ever parsed as HTML (see dom.js).

import { getToken, setToken, clearToken, onUnauthorized, request } from './api.js';
import * as jobs from './views/jobs.js';
import * as job from './views/job.js';
import * as newjob from './views/newjob.js';
import * as workspaces from './views/workspaces.js';
import * as workspace from './views/workspace.js';
import * as policies from './views/policies.js';
import * as policy from './views/policy.js';
import * as health from './views/health.js';

const view = document.getElementById('view');
const panel = document.getElementById('token-panel');
const form = document.getElementById('token-form');
const input = document.getElementById('token-input');
const message = document.getElementById('token-message');
const forget = document.getElementById('forget-token');

let current = null; // {controller}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const parts = path.split('/').filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { parts, query };
}

function route({ parts }) {
  const [a, b] = parts;
  switch (a) {
    case 'jobs': return b ? [job, 'jobs'] : [jobs, 'jobs'];
    case 'new': return [newjob, 'new'];
    case 'workspaces': return b ? [workspace, 'workspaces'] : [workspaces, 'workspaces'];
    case 'policies': return b ? [policy, 'policies'] : [policies, 'policies'];
    case 'health': return [health, 'health'];
    default: return [null, null];
  }
}

function stop() {
  if (current) current.controller.abort();
  current = null;
}

// A loop that runs fn, then waits ms, until the view ends or fn returns false. fn's errors are handed to onError
// (the loop goes on: a daemon restart should not need a page reload).
function loop(signal, fn, ms, onError) {
  (async () => {
    while (!signal.aborted) {
      try {
        if ((await fn()) === false) return; // the loop is done
      } catch (e) {
        if (signal.aborted || e.name === 'AbortError') return;
        if (e.status === 401) return;
        if (onError) onError(e);
      }
      await sleep(ms, signal);
    }
  })();
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

function render(ev) {
  stop();
  const where = parseHash();
  const [mod, nav] = route(where);
  if (!mod) {
    location.replace('#/jobs');
    return;
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!getToken()) {
    showPrompt('');
    return;
  }
  panel.hidden = true;
  forget.hidden = false;
  const controller = new AbortController();
  current = { controller };
  const signal = controller.signal;
  const ctx = {
    signal,
    query: where.query,
    parts: where.parts,
    loop: (fn, ms, onError) => loop(signal, fn, ms, onError),
    sleep: (ms) => sleep(ms, signal),
    go: (hash) => { location.hash = hash; },
  };
  view.replaceChildren();
  view.hidden = false;
  Promise.resolve(mod.render(view, ctx)).catch((e) => {
    if (signal.aborted || e.name === 'AbortError' || e.status === 401) return;
    const p = document.createElement('p');
    p.className = 'error';
    p.setAttribute('role', 'alert');
    p.textContent = e.message || String(e);
    view.append(p);
  });
  const h1 = view.querySelector('h1');
  if (h1 && ev && ev.type === 'hashchange') h1.focus({ preventScroll: true });
}

function showPrompt(why) {
  stop();
  view.hidden = true;
  view.replaceChildren();
  panel.hidden = false;
  forget.hidden = true;
  if (why === 'rejected') {
    message.hidden = false;
    message.textContent = 'The daemon refused the token (401 unauthorized). Check it and enter it again.';
  } else {
    message.hidden = true;
    message.textContent = '';
  }
  input.value = '';
  input.focus();
}

onUnauthorized((why) => showPrompt(why));

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const t = input.value.trim();
  if (!t) return;
  setToken(t);
  try {
    const resp = await request('/v1/policies');
    if (!resp.ok && resp.status !== 401) throw new Error(`${resp.status}`);
  } catch (e) {
    if (e.status === 401) return; // the prompt is shown again, with the message
    message.hidden = false;
    message.textContent = `Cannot reach the daemon: ${e.message}`;
    return;
  }
  message.hidden = true;
  render();
});

forget.addEventListener('click', () => {
  clearToken();
  showPrompt('');
});

// The skip link focuses the content without touching the hash (the hash is the route).
document.querySelector('.skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  const target = view.hidden ? input : (view.querySelector('h1') || document.getElementById('main'));
  target.focus();
});

window.addEventListener('hashchange', render);
render();
