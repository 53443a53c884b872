// DOM helpers. Everything that comes from the API is hostile (job output, names, labels): it is
// only ever put in the page as text (textContent, text nodes, attribute values set one by one),
// never through innerHTML. These helpers are the only way the views build elements.

// h('tag.class1.class2', {attr: value, onclick: fn}, child, ...): children are nodes, strings
// (made text nodes), arrays, or null/undefined/false (skipped).
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  for (const c of classes) if (c) el.classList.add(c);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') for (const c of String(v).split(/\s+/)) { if (c) el.classList.add(c); }
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'multiple' || k === 'required' || k === 'selected') el[k] = Boolean(v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// Sets the text of an element only when it changed (no flicker, no lost selection).
export function setText(el, text) {
  const t = String(text ?? '');
  if (el.textContent !== t) el.textContent = t;
}

// ---- formatting ----

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const now = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return hms;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtLabels(labels) {
  if (!labels) return '';
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(' ');
}

// A job's duration: the stored one once ended, else the time since it started.
export function jobDuration(job) {
  if (job.duration_ms !== null && job.duration_ms !== undefined) return job.duration_ms;
  if (job.started_at && !job.finished_at) return Math.max(0, Date.now() - new Date(job.started_at).getTime());
  return null;
}

export const ENDED = new Set(['succeeded', 'failed', 'timed_out', 'canceled', 'lost']);
export const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'timed_out', 'canceled', 'lost'];

// The status badge: a colour AND the word (and a symbol), never colour alone.
const SYMBOL = { queued: '…', running: '▶', succeeded: '✓', failed: '✗', timed_out: '⏱', canceled: '■', lost: '?' };
export function statusBadge(status) {
  const s = String(status);
  const known = Object.hasOwn(SYMBOL, s);
  return h(`span.badge.status-${known ? s : 'unknown'}`, { dataset: { status: s } },
    h('span.sym', { 'aria-hidden': 'true' }, known ? SYMBOL[s] : '•'), ' ', s.replace('_', ' '));
}

export function decisionBadge(decision) {
  const d = String(decision);
  return h(`span.badge.decision-${d === 'allow' ? 'allow' : 'deny'}`, null,
    h('span.sym', { 'aria-hidden': 'true' }, d === 'allow' ? '✓' : '✗'), ' ', d);
}

// A definition list from [label, value] pairs (value: node or text).
export function dl(pairs) {
  if (!pairs.some(Boolean)) return null;
  return h('dl.kv', null, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '—')]));
}

// Encodes a workspace path for a URL, one segment at a time (keeps the slashes).
export function encodePath(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function errorBox(err) {
  return h('p.error', { role: 'alert' }, err && err.message ? err.message : String(err));
}
