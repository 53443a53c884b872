// One policy: its rules in readable form (the network allow and deny lists as tables, the
// filesystem lists, the limits), the raw JSON, and the "check a URL" box (POST .../check), which
// shows the decision, the deciding rule and the reason.

import { h, fill, dl, decisionBadge, fmtBytes, errorBox } from '../dom.js';
import { json } from '../api.js';
import { heading } from './common.js';

function val(v) {
  if (v === null || v === undefined) return '—';
  if (Array.isArray(v)) return v.length ? v.join(', ') : '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function rulesTable(kind, rules) {
  if (!rules || !rules.length) return h('p.muted', null, kind === 'allow' ? 'No allow rules: every request is denied (no_rule).' : 'No deny rules.');
  const keys = [];
  for (const r of rules) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  return h('div.table-wrap', null, h(`table.rules.rules-${kind}`, { 'aria-label': `${kind} rules` },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'rule'), keys.map((k) => h('th', { scope: 'col' }, k)))),
    h('tbody', null, rules.map((r, i) => h('tr', null,
      h('td.mono', { dataset: { label: 'rule' } }, `${kind}[${i}]`),
      keys.map((k) => h('td', { dataset: { label: k } }, val(r[k]))))))));
}

export async function render(view, ctx) {
  const name = ctx.parts[1];
  const base = `/v1/policies/${encodeURIComponent(name)}`;
  const body = h('div');
  const url = h('input', { id: 'check-url', type: 'url', required: true, placeholder: 'https://pypi.org/simple/', spellcheck: 'false', size: '40' });
  const method = h('select', { id: 'check-method' }, ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].map((m) => h('option', { value: m }, m)));
  const result = h('div.check-result', { 'aria-live': 'polite', id: 'check-result' });
  const form = h('form.inline-form.check', { 'aria-label': 'Check a URL' },
    h('label', { for: 'check-url' }, 'URL'), url,
    h('label', { for: 'check-method' }, 'Method'), method,
    h('button.primary', { type: 'submit', id: 'check-go' }, 'Check'));

  fill(view,
    h('p.crumbs', null, h('a', { href: '#/policies' }, '« Policies')),
    h('div.view-head', null, heading('Policy ', h('span.mono', null, name)),
      h('a.button-link', { href: `#/new?policy=${encodeURIComponent(name)}` }, 'Run a job with it')),
    h('section.check-box', { 'aria-labelledby': 'h-check' },
      h('h2', { id: 'h-check' }, 'Check a URL'),
      h('p.hint', null, 'The decision the egress proxy would take for this URL under this policy. Nothing is sent anywhere and no name is resolved.'),
      form, result),
    body);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    try {
      const r = await json(`${base}/check`, { method: 'POST', body: { url: url.value.trim(), method: method.value }, signal: ctx.signal });
      const deny = r.decision !== 'allow';
      fill(result, h(`div.verdict${deny ? '.deny' : '.allow'}`, { dataset: { decision: r.decision } },
        h('p.verdict-line', null, decisionBadge(r.decision), ' ',
          r.rule ? ['by rule ', h('code', null, r.rule)] : 'no rule decided',
          r.reason ? [' · reason ', h('strong.reason', null, r.reason)] : null),
        r.explanation ? h('p', null, r.explanation) : null,
        dl([
          r.request ? ['as the proxy sees it', `${r.request.method || ''} ${r.request.scheme}://${r.request.host}:${r.request.port}${r.request.path || ''}`] : null,
          r.rule_detail ? ['the rule', h('code', null, JSON.stringify(r.rule_detail))] : null,
          r.note ? ['note', r.note] : null,
        ])));
    } catch (e) {
      if (e.name !== 'AbortError') fill(result, errorBox(e));
    }
  });

  const p = await json(base, { signal: ctx.signal });
  const net = p.network || {};
  const fs = p.filesystem || {};
  const lim = p.limits || {};
  const known = new Set(['description', 'network', 'filesystem', 'limits']);
  const other = Object.keys(p).filter((k) => !known.has(k));
  fill(body,
    p.description ? h('p.lead', null, p.description) : null,
    h('section', { 'aria-labelledby': 'h-net' }, h('h2', { id: 'h-net' }, 'Network'),
      h('p.hint', null, 'Deny rules win over allow rules; a request no allow rule names is denied (no_rule).'),
      h('h3', null, 'Allow'), rulesTable('allow', net.allow),
      h('h3', null, 'Deny'), rulesTable('deny', net.deny),
      dl(Object.keys(net).filter((k) => k !== 'allow' && k !== 'deny').map((k) => [k, val(net[k])]))),
    h('section', { 'aria-labelledby': 'h-fs' }, h('h2', { id: 'h-fs' }, 'Filesystem'),
      dl(Object.keys(fs).map((k) => [k.replace('_', '-'), Array.isArray(fs[k]) && fs[k].length ? h('ul.paths', null, fs[k].map((x) => h('li.mono', null, x))) : val(fs[k])]))),
    h('section', { 'aria-labelledby': 'h-lim' }, h('h2', { id: 'h-lim' }, 'Limits'),
      dl(Object.keys(lim).map((k) => [k, k === 'output_bytes' ? fmtBytes(lim[k]) : val(lim[k])]))),
    other.length ? h('section', null, h('h2', null, 'Other settings'), dl(other.map((k) => [k, val(p[k])]))) : null,
    h('details.raw-json', null, h('summary', null, 'The policy as loaded (JSON)'), h('pre.raw', null, JSON.stringify(p, null, 2))));
}
