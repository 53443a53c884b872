// One workspace: its object, and a file browser (#/workspaces/<id>?path=dir/sub/): the listing
// of a directory, downloads (fetch with the token, then a Blob: the token never goes in a URL),
// uploads (PUT with the chosen files' bytes), and deletes.

import { h, fill, fmtTime, fmtBytes, fmtLabels, dl, encodePath, errorBox } from '../dom.js';
import { request, json, failure, download } from '../api.js';
import { heading } from './common.js';

export async function render(view, ctx) {
  const id = ctx.parts[1];
  const base = `/v1/workspaces/${encodeURIComponent(id)}`;
  let dir = ctx.query.get('path') || '';
  if (dir && !dir.endsWith('/')) dir += '/';
  const here = (p) => `#/workspaces/${encodeURIComponent(id)}${p ? '?path=' + encodeURIComponent(p) : ''}`;

  const msg = h('div', { 'aria-live': 'polite' });
  const summary = h('div.summary');
  const tbody = h('tbody');
  const crumbs = h('nav.path', { 'aria-label': 'Directory' });
  const picker = h('input', { id: 'ws-upload', type: 'file', multiple: true });
  const upload = h('form.inline-form', { 'aria-label': 'Upload files' },
    h('label', { for: 'ws-upload' }, `Upload into /${dir}`), picker,
    h('button', { type: 'submit', id: 'ws-upload-go' }, 'Upload'));
  const actions = h('div.actions',
    null,
    h('a.button-link', { href: `#/new?workspace=${encodeURIComponent(id)}` }, 'Run a job here'),
    h('button', { type: 'button', onclick: () => Promise.all([list(), loadObject()]).catch((e) => { if (e.name !== 'AbortError') fill(msg, errorBox(e)); }) }, 'Refresh'),
    h('button.danger', { type: 'button', onclick: delWorkspace }, 'Delete workspace'));

  fill(view,
    h('p.crumbs', null, h('a', { href: '#/workspaces' }, '« Workspaces')),
    heading('Workspace ', h('span.mono', null, id)),
    msg, actions,
    h('section', { 'aria-labelledby': 'h-ws' }, h('h2', { id: 'h-ws' }, 'Summary'), summary),
    h('section', { 'aria-labelledby': 'h-files' }, h('h2', { id: 'h-files' }, 'Files'), crumbs, upload,
      h('div.table-wrap', null, h('table.files', { 'aria-label': 'Files' },
        h('thead', null, h('tr', null, ['name', 'type', 'size', 'modified', ''].map((c) => h('th', { scope: 'col' }, c)))), tbody))));

  const parts = dir.split('/').filter(Boolean);
  fill(crumbs, h('a', { href: here('') }, '/'),
    parts.map((p, i) => [h('a', { href: here(parts.slice(0, i + 1).join('/') + '/') }, p), '/']));

  async function loadObject() {
    const w = await json(base, { signal: ctx.signal });
    fill(summary, dl([
      ['labels', fmtLabels(w.labels) || '—'],
      ['size', `${fmtBytes(w.size_bytes)}${w.disk_mb ? ` of a ${w.disk_mb} MiB cap` : ' (no cap)'}`],
      ['jobs', `${w.jobs_running ?? 0} running, ${w.jobs_total ?? '—'} in all`],
      ['kind', w.host_path ? `adopted: ${w.host_path}` : 'managed (in the state directory)'],
      ['created', fmtTime(w.created_at)],
      ['last used', fmtTime(w.last_used_at)],
    ]));
  }

  async function list() {
    const resp = await request(`${base}/files/${encodePath(dir)}`, { signal: ctx.signal });
    if (!resp.ok) { fill(tbody, h('tr', null, h('td', { colspan: '5' }, errorBox(await failure(resp))))); return; }
    const data = await resp.json();
    const rows = [];
    if (dir) rows.push(h('tr', null, h('td', { dataset: { label: 'name' } }, h('a', { href: here(parts.slice(0, -1).join('/') + (parts.length > 1 ? '/' : '')) }, '.. (up)')), h('td'), h('td'), h('td'), h('td')));
    for (const e of data.entries || []) {
      const path = dir + e.name;
      let name;
      if (e.type === 'dir') name = h('a', { href: here(path + '/') }, `${e.name}/`);
      else name = h('span', null, e.name);
      const buttons = [];
      if (e.type === 'file') buttons.push(h('button.small', { type: 'button', onclick: () => get(path, e.name), 'aria-label': `Download ${e.name}` }, 'Download'));
      buttons.push(h('button.small.danger', { type: 'button', onclick: () => del(path, e.type), 'aria-label': `Delete ${e.name}` }, 'Delete'));
      rows.push(h('tr', { dataset: { name: e.name, type: e.type } },
        h('td.mono', { dataset: { label: 'name' } }, name),
        h('td', { dataset: { label: 'type' } }, e.type),
        h('td', { dataset: { label: 'size' } }, e.type === 'dir' ? '—' : fmtBytes(e.size)),
        h('td', { dataset: { label: 'modified' } }, fmtTime(e.mtime)),
        h('td.buttons', null, h('span', null, buttons))));
    }
    if (!(data.entries || []).length) rows.push(h('tr', null, h('td.muted', { colspan: '5' }, 'Empty.')));
    if (data.truncated) rows.push(h('tr', null, h('td.muted', { colspan: '5' }, 'Only the first 10000 entries are listed.')));
    fill(tbody, rows);
  }

  async function get(path, name) {
    try {
      await download(`${base}/files/${encodePath(path)}`, name, ctx.signal);
    } catch (e) { if (e.name !== 'AbortError') fill(msg, errorBox(e)); }
  }

  async function del(path, type) {
    const rec = type === 'dir' ? '?recursive=true' : '';
    if (!window.confirm(`Delete ${path}${type === 'dir' ? ' and everything in it' : ''}?`)) return;
    try {
      const resp = await request(`${base}/files/${encodePath(path)}${type === 'dir' ? '/' : ''}${rec}`, { method: 'DELETE', signal: ctx.signal });
      if (!resp.ok) throw await failure(resp);
      fill(msg, h('p.ok', { role: 'status' }, `Deleted ${path}.`));
      await Promise.all([list(), loadObject()]);
    } catch (e) { if (e.name !== 'AbortError') fill(msg, errorBox(e)); }
  }

  async function delWorkspace() {
    if (!window.confirm(`Delete workspace ${id}? A managed workspace's files are removed; an adopted directory is only forgotten.`)) return;
    try {
      const resp = await request(base, { method: 'DELETE', signal: ctx.signal });
      if (!resp.ok) throw await failure(resp);
      ctx.go('#/workspaces');
    } catch (e) { if (e.name !== 'AbortError') fill(msg, errorBox(e)); }
  }

  upload.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const files = [...picker.files];
    if (!files.length) { fill(msg, errorBox(new Error('Choose one or more files first.'))); return; }
    const done = [];
    try {
      for (const f of files) {
        const resp = await request(`${base}/files/${encodePath(dir + f.name)}`, {
          method: 'PUT', body: f, headers: { 'Content-Type': 'application/octet-stream' }, signal: ctx.signal });
        if (!resp.ok) throw await failure(resp);
        done.push(f.name);
      }
      fill(msg, h('p.ok', { role: 'status' }, `Uploaded ${done.join(', ')}.`));
      picker.value = '';
    } catch (e) {
      if (e.name !== 'AbortError') fill(msg, errorBox(e));
    }
    await Promise.all([list(), loadObject()]).catch(() => {});
  });

  const resp = await request(base, { signal: ctx.signal });
  if (resp.status === 404) { fill(msg, h('p.error', { role: 'alert' }, `No workspace ${id}.`)); return; }
  await Promise.all([loadObject(), list()]);
}
