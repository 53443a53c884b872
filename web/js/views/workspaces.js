// The workspaces: each with its size, the jobs running in it now and in all, and a button that
// makes a new (managed, empty) one. Refreshed every 5 s in place.

import { h, fill, setText, fmtTime, fmtBytes, fmtLabels, errorBox } from '../dom.js';
import { json } from '../api.js';
import { heading, liveLine } from './common.js';

const COLUMNS = ['id', 'labels', 'size', 'jobs running / total', 'last used', 'kind'];

export async function render(view, ctx) {
  const live = liveLine();
  const err = h('div');
  const tbody = h('tbody');
  const empty = h('p.muted', { hidden: true }, 'No workspaces. A job without one gets a fresh directory of its own; make one here to keep files between jobs.');
  const newLabels = h('input', { id: 'ws-labels', placeholder: 'key=value key2=value2', spellcheck: 'false' });
  const create = h('form.inline-form', { 'aria-label': 'New workspace' },
    h('label', { for: 'ws-labels' }, 'Labels'), newLabels,
    h('button', { type: 'submit', id: 'ws-create' }, 'New workspace'));
  create.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const labels = {};
    for (const pair of newLabels.value.trim().split(/\s+/).filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) { fill(err, errorBox(new Error(`labels: "${pair}" is not key=value`))); return; }
      labels[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    try {
      const w = await json('/v1/workspaces', { method: 'POST', body: { labels }, signal: ctx.signal });
      ctx.go(`#/workspaces/${encodeURIComponent(w.id)}`);
    } catch (e) { if (e.name !== 'AbortError') fill(err, errorBox(e)); }
  });

  fill(view, heading('Workspaces'), create, live.el, err,
    h('div.table-wrap', null, h('table.workspaces', { 'aria-label': 'Workspaces, newest first' },
      h('thead', null, h('tr', null, COLUMNS.map((c) => h('th', { scope: 'col' }, c)))), tbody)), empty);

  const rows = new Map();
  ctx.loop(async () => {
    const data = await json('/v1/workspaces', { signal: ctx.signal });
    const list = data.workspaces || [];
    const seen = new Set();
    let prev = null;
    for (const w of list) {
      seen.add(w.id);
      let r = rows.get(w.id);
      if (!r) {
        const tds = COLUMNS.map((c) => h('td', { dataset: { label: c } }));
        r = { tr: h('tr', { dataset: { id: w.id } }, tds), tds };
        tds[0].append(h('a.mono', { href: `#/workspaces/${encodeURIComponent(w.id)}` }, w.id));
        rows.set(w.id, r);
      }
      setText(r.tds[1], fmtLabels(w.labels));
      setText(r.tds[2], `${fmtBytes(w.size_bytes)}${w.disk_mb ? ` of ${w.disk_mb} MiB` : ''}`);
      setText(r.tds[3], `${w.jobs_running ?? 0} / ${w.jobs_total ?? '—'}`);
      setText(r.tds[4], fmtTime(w.last_used_at || w.created_at));
      setText(r.tds[5], w.host_path ? `adopted: ${w.host_path}` : 'managed');
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== r.tr) tbody.insertBefore(r.tr, want);
      prev = r.tr;
    }
    for (const [id, r] of rows) if (!seen.has(id)) { r.tr.remove(); rows.delete(id); }
    empty.hidden = list.length > 0;
    live.ok();
  }, 5000, (e) => live.fail(e));
}
