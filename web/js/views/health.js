// The daemon's health (GET /healthz, no token needed): version, uptime, jobs running and queued,
// and what the kernel offers the sandboxes; and the Prometheus counters (GET /metrics, with the
// token), refreshed every 5 s.

import { h, fill, dl } from '../dom.js';
import { request, failure } from '../api.js';
import { heading, liveLine } from './common.js';

function yes(v) {
  return h(`span.badge.${v ? 'feature-yes' : 'feature-no'}`, null, h('span.sym', { 'aria-hidden': 'true' }, v ? '✓' : '✗'), ' ', v ? 'yes' : 'no');
}

function uptime(s) {
  if (s === undefined || s === null) return '—';
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return [d ? `${d} d` : '', hh ? `${hh} h` : '', m ? `${m} min` : '', `${s % 60} s`].filter(Boolean).join(' ');
}

export async function render(view, ctx) {
  const live = liveLine();
  const main = h('div');
  const kernel = h('div');
  const metrics = h('pre.raw.metrics', { tabindex: '0', 'aria-label': 'Metrics' });
  fill(view, heading('Health'), live.el, main,
    h('section', { 'aria-labelledby': 'h-kernel' }, h('h2', { id: 'h-kernel' }, 'Kernel features'), kernel),
    h('section', { 'aria-labelledby': 'h-metrics' }, h('h2', { id: 'h-metrics' }, 'Metrics'),
      h('p.hint', null, 'GET /metrics (Prometheus text); the HELP and TYPE lines are left out.'), metrics));

  let shownKernel = '';
  ctx.loop(async () => {
    const r = await request('/healthz', { auth: false, signal: ctx.signal });
    if (!r.ok) throw await failure(r);
    const hz = await r.json();
    const jobs = hz.jobs || {};
    fill(main, dl([
      ['status', h(`span.badge.${hz.status === 'ok' ? 'feature-yes' : 'feature-no'}`, null, String(hz.status))],
      ['version', hz.version],
      ['uptime', uptime(hz.uptime_s)],
      ['jobs running', `${jobs.running ?? '—'}${jobs.max_running ? ` of at most ${jobs.max_running}` : ''}`],
      ['jobs queued', `${jobs.queued ?? '—'}${jobs.max_queued ? ` of at most ${jobs.max_queued}` : ''}`],
      ['policies loaded', hz.policies],
      hz.cgroups ? ['cgroups', typeof hz.cgroups === 'string' ? hz.cgroups : JSON.stringify(hz.cgroups)] : null,
    ]));
    const k = hz.kernel || {};
    const key = JSON.stringify(k);
    if (key !== shownKernel) {
      shownKernel = key;
      const ns = k.namespaces || {};
      const cg = k.cgroups || {};
      fill(kernel, dl([
        ['release', k.release],
        ['Landlock', k.landlock_abi ? h('span', null, yes(true), ` ABI ${k.landlock_abi}`) : yes(false)],
        ['seccomp filter', yes(k.seccomp_filter)],
        ['pidfd', yes(k.pidfd)],
        ['openat2', yes(k.openat2)],
        ['namespaces', h('span.features', null, Object.entries(ns).map(([n, v]) => h('span.feature', null, `${n} `, yes(v))))],
        ['cgroup v2 mount', k.cgroup2_mount || '—'],
        ...Object.entries(cg).map(([n, c]) => [`cgroup ${n}`, h('span', null, `v${c.version} ${c.path} `, c.writable ? yes(true) : h('span.badge.feature-no', null, 'not writable'))]),
      ]));
    }
    try {
      const m = await request('/metrics', { signal: ctx.signal });
      metrics.textContent = m.ok ? (await m.text()).split('\n').filter((l) => l && !l.startsWith('#')).join('\n') : `not available: ${m.status}`;
    } catch (e) {
      if (e.status === 401 || e.name === 'AbortError') throw e;
      metrics.textContent = `not available: ${e.message}`;
    }
    live.ok();
  }, 5000, (e) => live.fail(e));
}
