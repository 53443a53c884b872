// The jobs table: newest first, filtered by status and label (kept in the hash:
// #/jobs?status=running&label=k:v&before=<id>), a page at a time (the API's `next` cursor), and
// updated in place every 2 s: rows are matched by job id, a cell is rewritten only when its text
// changed, new jobs are inserted, and nothing is rebuilt, so nothing flickers.

import { h, fill, setText, fmtTime, fmtDuration, jobDuration, statusBadge, STATUSES, errorBox } from '../dom.js';
import { request, failure } from '../api.js';
import { shellJoin, exitText, heading, liveLine, labelChips } from './common.js';

const LIMIT = 25;

const COLUMNS = ['id', 'status', 'policy', 'command', 'labels', 'started', 'duration', 'exit / reason', 'egress'];

export async function render(view, ctx) {
  const q = ctx.query;
  const status = q.get('status') || '';
  const label = q.get('label') || '';
  const before = q.get('before') || '';

  const statusSel = h('select', { id: 'f-status', name: 'status' },
    h('option', { value: '' }, 'any status'),
    STATUSES.map((s) => h('option', { value: s, selected: s === status }, s.replace('_', ' '))));
  const labelIn = h('input', { id: 'f-label', name: 'label', value: label, placeholder: 'key:value', spellcheck: 'false', size: '16' });
  const filters = h('form.filters', { role: 'search', 'aria-label': 'Filter jobs' },
    h('label', { for: 'f-status' }, 'Status'), statusSel,
    h('label', { for: 'f-label' }, 'Label'), labelIn,
    h('button', { type: 'submit' }, 'Filter'),
    (status || label) ? h('a.button-link', { href: '#/jobs' }, 'Clear') : null);
  const apply = () => {
    const p = new URLSearchParams();
    if (statusSel.value) p.set('status', statusSel.value);
    if (labelIn.value.trim()) p.set('label', labelIn.value.trim());
    ctx.go(`#/jobs${p.toString() ? '?' + p : ''}`);
  };
  filters.addEventListener('submit', (ev) => { ev.preventDefault(); apply(); });
  statusSel.addEventListener('change', apply);

  const live = liveLine();
  const tbody = h('tbody');
  const table = h('table.jobs', { 'aria-label': 'Jobs, newest first' },
    h('thead', null, h('tr', null, COLUMNS.map((c) => h('th', { scope: 'col' }, c)))), tbody);
  const emptyRow = h('p.muted.empty', { hidden: true }, 'No jobs match.');
  const pager = h('nav.pager', { 'aria-label': 'Pages' });
  const err = h('div');
  fill(view,
    h('div.view-head', null, heading('Jobs'), h('a.button-link.primary', { href: '#/new' }, 'New job')),
    filters, live.el, err, h('div.table-wrap', null, table), emptyRow, pager);

  const rows = new Map(); // id -> {tr, cells, last}

  function cellsFor(tr) {
    const cells = {};
    for (const c of COLUMNS) {
      const td = h('td', { dataset: { label: c } });
      cells[c] = td;
      tr.append(td);
    }
    return cells;
  }

  function update(entry, j) {
    const c = entry.cells;
    if (!entry.link) {
      entry.link = h('a.mono', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id);
      c.id.append(entry.link);
    }
    if (entry.status !== j.status) {
      fill(c.status, statusBadge(j.status));
      entry.status = j.status;
      entry.tr.dataset.status = j.status;
    }
    setText(c.policy, j.policy);
    const cmd = shellJoin(j.command);
    setText(c.command, cmd);
    c.command.title = cmd;
    const lk = JSON.stringify(j.labels || {});
    if (entry.labels !== lk) {
      fill(c.labels, labelChips(j.labels));
      entry.labels = lk;
    }
    setText(c.started, fmtTime(j.started_at || j.created_at));
    c.started.title = j.started_at || j.created_at || '';
    setText(c.duration, fmtDuration(jobDuration(j)));
    setText(c['exit / reason'], exitText(j));
    const e = j.egress || { allowed: 0, denied: 0 };
    const key = `${e.allowed}/${e.denied}`;
    if (entry.egress !== key) {
      fill(c.egress, h('span.egress', null, `${e.allowed} allowed, `, h(e.denied > 0 ? 'strong.denied-count' : 'span', null, `${e.denied} denied`)));
      entry.egress = key;
    }
  }

  function apply_(list) {
    const seen = new Set();
    let prev = null;
    for (const j of list) {
      seen.add(j.id);
      let entry = rows.get(j.id);
      if (!entry) {
        const tr = h('tr', { dataset: { id: j.id } });
        entry = { tr, cells: cellsFor(tr) };
        rows.set(j.id, entry);
      }
      update(entry, j);
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== entry.tr) tbody.insertBefore(entry.tr, want);
      prev = entry.tr;
    }
    for (const [id, entry] of rows) {
      if (!seen.has(id)) { entry.tr.remove(); rows.delete(id); }
    }
    emptyRow.hidden = list.length > 0;
  }

  let shownNext;
  function pagerFor(next) {
    if (shownNext === next) return;
    shownNext = next;
    const base = new URLSearchParams();
    if (status) base.set('status', status);
    if (label) base.set('label', label);
    const links = [];
    if (before) links.push(h('a.button-link', { href: `#/jobs${base.toString() ? '?' + base : ''}` }, '« Newest'));
    if (next) {
      const p = new URLSearchParams(base);
      p.set('before', next);
      links.push(h('a.button-link', { href: `#/jobs?${p}`, rel: 'next' }, 'Older »'));
    }
    fill(pager, links);
  }

  const p = new URLSearchParams({ limit: String(LIMIT) });
  if (status) p.set('status', status);
  if (label) p.set('label', label);
  if (before) p.set('before', before);
  const url = `/v1/jobs?${p}`;

  // Polled with the list's ETag: while nothing changes the daemon answers 304 and no row moves.
  let etag = null;
  ctx.loop(async () => {
    const resp = await request(url, { signal: ctx.signal, headers: etag ? { 'If-None-Match': etag } : {} });
    if (resp.status === 304) { live.ok(); return; }
    if (!resp.ok) throw await failure(resp);
    etag = resp.headers.get('ETag');
    const data = await resp.json();
    if (ctx.signal.aborted) return;
    err.replaceChildren();
    apply_(data.jobs || []);
    pagerFor(data.next || null);
    live.ok();
  }, 2000, (e) => { live.fail(e); if (!rows.size) fill(err, errorBox(e)); });
}
