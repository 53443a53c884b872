// Pieces several views share.
import { h } from '../dom.js';

// argv as one line a person can read (and paste into a shell): arguments with spaces or
// quotes are single-quoted.
export function shellJoin(argv) {
  if (!Array.isArray(argv)) return '';
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${String(a).replace(/'/g, `'\\''`)}'`)).join(' ');
}

// "exit 0", "signal 9", the reason, or both.
export function exitText(job) {
  const parts = [];
  if (job.exit_code !== null && job.exit_code !== undefined) parts.push(`exit ${job.exit_code}`);
  if (job.signal !== null && job.signal !== undefined) parts.push(`signal ${job.signal}`);
  if (job.reason) parts.push(String(job.reason));
  return parts.join(' · ') || '—';
}

export function egressSummary(job) {
  const e = job.egress || { allowed: 0, denied: 0 };
  const span = h('span.egress', null, `${e.allowed} allowed, `,
    h(e.denied > 0 ? 'strong.denied-count' : 'span', null, `${e.denied} denied`));
  return span;
}

export function heading(text, ...extra) {
  return h('h1', { tabindex: '-1' }, text, ...extra);
}

// A live line: "updated 12:00:01" or the error of the last poll.
export function liveLine() {
  // Not a live region: it changes every few seconds. A failure is announced (role=alert).
  const el = h('p.live');
  return {
    el,
    ok() { el.classList.remove('stale'); el.removeAttribute('role'); el.textContent = `Live · updated ${new Date().toLocaleTimeString()}`; },
    fail(e) { el.classList.add('stale'); el.setAttribute('role', 'alert'); el.textContent = `Not updating: ${e.message || e} (retrying)`; },
  };
}

// Labels as chips ("k=v" each, cut with an ellipsis when long; the whole text is the title).
export function labelChips(labels) {
  const entries = Object.entries(labels || {});
  if (!entries.length) return h('span.muted', null, '—');
  return h('span.chips', null, entries.map(([k, v]) => h('span.chip', { title: `${k}=${v}` }, `${k}=${v}`)));
}
