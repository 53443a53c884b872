// The policies: name and description, each a link to its rules and its "check a URL" box.
import { h, fill } from '../dom.js';
import { json } from '../api.js';
import { heading } from './common.js';

export async function render(view, ctx) {
  const list = h('ul.cards');
  const reload = h('button', { type: 'button', id: 'pol-reload' }, 'Reload from disk');
  const msg = h('div', { 'aria-live': 'polite' });
  fill(view, h('div.view-head', null, heading('Policies'), reload), msg, list);

  async function load() {
    const data = await json('/v1/policies', { signal: ctx.signal });
    fill(list, (data.policies || []).map((p) => h('li.card', null,
      h('a.card-title', { href: `#/policies/${encodeURIComponent(p.name)}` }, p.name),
      h('p', null, p.description || ''))));
  }

  reload.addEventListener('click', async () => {
    try {
      const r = await json('/v1/policies/reload', { method: 'POST', signal: ctx.signal });
      const errs = r.errors || [];
      fill(msg, h(errs.length ? 'div.error' : 'p.ok', { role: 'status' },
        `Reloaded: ${(r.loaded || []).length} loaded, ${(r.unchanged || []).length} unchanged, ${(r.removed || []).length} removed, ${errs.length} with errors.`,
        errs.length ? h('ul', null, errs.map((e) => h('li', null, `${e.file}: ${e.message}${e.kept_previous ? ' (the previous version stays in force)' : ''}`))) : null));
      await load();
    } catch (e) { if (e.name !== 'AbortError') fill(msg, h('p.error', { role: 'alert' }, e.message)); }
  });

  await load();
}
