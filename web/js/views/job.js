// One job: the object in readable form, stdout and stderr tailing live (output.js), the egress
// events with denials highlighted, usage and limits, Cancel and Delete. The object is followed
// with a long-poll (?wait_s with If-None-Match: one request per change); output and egress are
// read every second while the job runs, then once more when it ends.

import { h, fill, setText, fmtTime, fmtDuration, fmtBytes, fmtLabels, jobDuration, statusBadge, decisionBadge, dl, ENDED, errorBox } from '../dom.js';
import { request, json, failure } from '../api.js';
import { OutputPane } from '../output.js';
import { shellJoin, exitText, heading, liveLine } from './common.js';

const EGRESS_ROWS_MAX = 5000;

export async function render(view, ctx) {
  const id = ctx.parts[1];
  const base = `/v1/jobs/${encodeURIComponent(id)}`;
  const badge = h('span.head-badge');
  const live = liveLine();
  const actions = h('div.actions');
  const msg = h('div');
  const summary = h('div.summary');
  const usage = h('div.usage');
  const raw = h('pre.raw');
  const out = new OutputPane(id, 'stdout');
  const errp = new OutputPane(id, 'stderr');
  const egressBody = h('tbody');
  const egressNote = h('p.muted', null, 'No egress events yet.');
  const egressCount = h('span.muted');
  const egressTable = h('table.egress', { 'aria-label': 'Egress events, oldest first' },
    h('thead', null, h('tr', null, ['time', 'decision', 'method', 'destination', 'rule', 'reason', 'status', 'bytes up / down', 'ms']
      .map((c) => h('th', { scope: 'col' }, c)))), egressBody);
  const egressWrap = h('div.table-wrap', { hidden: true }, egressTable);

  fill(view,
    h('p.crumbs', null, h('a', { href: '#/jobs' }, '« Jobs')),
    h('div.view-head', null, heading('Job ', h('span.mono', null, id)), badge),
    live.el, msg, actions,
    h('section', { 'aria-labelledby': 'h-summary' }, h('h2', { id: 'h-summary' }, 'Summary'), summary),
    h('section.outputs', { 'aria-labelledby': 'h-output' }, h('h2', { id: 'h-output' }, 'Output'), out.el, errp.el),
    h('section', { 'aria-labelledby': 'h-egress' }, h('h2', { id: 'h-egress' }, 'Egress ', egressCount), egressNote, egressWrap),
    h('section', { 'aria-labelledby': 'h-usage' }, h('h2', { id: 'h-usage' }, 'Usage and limits'), usage),
    h('details.raw-json', null, h('summary', null, 'The job object (JSON)'), raw));

  let job = null, etag = null, egressAfter = 0, egressRows = 0;

  const durEl = h('span');
  function show(j) {
    job = j;
    setText(durEl, fmtDuration(jobDuration(j)));
    fill(badge, statusBadge(j.status));
    const ws = j.workspace ? h('a.mono', { href: `#/workspaces/${encodeURIComponent(j.workspace)}` }, j.workspace) : 'its own (fresh)';
    fill(summary, dl([
      ['status', statusBadge(j.status)],
      ['exit / reason', exitText(j)],
      ['command', h('code.cmd', null, shellJoin(j.command))],
      ['policy', h('a', { href: `#/policies/${encodeURIComponent(j.policy)}` }, j.policy)],
      ['labels', fmtLabels(j.labels) || '—'],
      ['workspace', ws],
      ['cwd', j.cwd ? `/workspace/${j.cwd}` : '/workspace'],
      ['created', fmtTime(j.created_at)],
      ['started', fmtTime(j.started_at)],
      ['finished', fmtTime(j.finished_at)],
      ['duration', durEl],
      ['egress', h('span', null, `${j.egress?.allowed ?? 0} allowed, `, h((j.egress?.denied ?? 0) > 0 ? 'strong.denied-count' : 'span', null, `${j.egress?.denied ?? 0} denied`))],
      ['output', `stdout ${fmtBytes(j.stdout_bytes)}${j.stdout_truncated ? ' (truncated at the limit)' : ''}, stderr ${fmtBytes(j.stderr_bytes)}${j.stderr_truncated ? ' (truncated at the limit)' : ''}`],
    ]));
    const u = j.usage || {}, l = j.limits || {};
    fill(usage, dl([
      ['CPU time', u.cpu_ms !== undefined && u.cpu_ms !== null ? `${u.cpu_ms} ms` : '—'],
      ['peak memory', u.max_rss_kb !== undefined && u.max_rss_kb !== null ? fmtBytes(u.max_rss_kb * 1024) : '—'],
      ['timeout', j.timeout_s ? `${j.timeout_s} s` : '—'],
      ['memory limit', l.memory_mb ? `${l.memory_mb} MiB` : '—'],
      ['processes limit', l.pids ?? '—'],
      ['CPU limit', l.cpu_s ? `${l.cpu_s} s` : '—'],
      ['output limit', l.output_bytes ? fmtBytes(l.output_bytes) : '—'],
      ['disk limit', l.disk_mb ? `${l.disk_mb} MiB` : '—'],
    ]));
    setText(raw, JSON.stringify(j, null, 2));
    showActions();
  }

  function showActions() {
    const ended = ENDED.has(job.status);
    const buttons = [];
    if (!ended) buttons.push(h('button.danger', { type: 'button', id: 'cancel-job', onclick: cancel }, 'Cancel job'));
    if (ended) buttons.push(h('button.danger', { type: 'button', id: 'delete-job', onclick: del }, 'Delete job'));
    buttons.push(h('a.button-link', { href: '#/new' }, 'New job'));
    const key = buttons.map((b) => b.textContent).join('|');
    if (actions.dataset.key !== key) { actions.dataset.key = key; fill(actions, buttons); }
  }

  async function cancel() {
    if (!window.confirm(`Cancel job ${id}? Its process tree is killed.`)) return;
    try {
      const resp = await request(`${base}/cancel`, { method: 'POST', signal: ctx.signal });
      if (!resp.ok) throw await failure(resp);
      show(await resp.json());
      fill(msg, h('p.ok', { role: 'status' }, 'Cancel requested.'));
    } catch (e) { if (e.name !== 'AbortError') fill(msg, errorBox(e)); }
  }

  async function del() {
    if (!window.confirm(`Delete job ${id}? Its output, egress events and own workspace are removed.`)) return;
    try {
      const resp = await request(base, { method: 'DELETE', signal: ctx.signal });
      if (!resp.ok) throw await failure(resp);
      ctx.go('#/jobs');
    } catch (e) { if (e.name !== 'AbortError') fill(msg, errorBox(e)); }
  }

  function egressRow(ev) {
    const deny = ev.decision !== 'allow';
    let dest = ev.host ? `${ev.scheme ? ev.scheme + '://' : ''}${ev.host.includes(':') ? `[${ev.host}]` : ev.host}${ev.port ? ':' + ev.port : ''}${ev.path || ''}` : '(unreadable request)';
    return h(`tr${deny ? '.deny' : ''}`, { dataset: { decision: ev.decision } },
      h('td', { dataset: { label: 'time' } }, fmtTime(ev.time)),
      h('td', { dataset: { label: 'decision' } }, decisionBadge(ev.decision)),
      h('td', { dataset: { label: 'method' } }, ev.method ?? '—'),
      h('td.mono.dest', { dataset: { label: 'destination' } }, dest),
      h('td', { dataset: { label: 'rule' } }, ev.rule ?? '—'),
      h('td', { dataset: { label: 'reason' } }, ev.reason ? h(deny ? 'strong.reason' : 'span', null, ev.reason) : '—'),
      h('td', { dataset: { label: 'status' } }, ev.status ?? '—'),
      h('td', { dataset: { label: 'bytes' } }, `${fmtBytes(ev.bytes_up)} / ${fmtBytes(ev.bytes_down)}`),
      h('td', { dataset: { label: 'ms' } }, ev.duration_ms ?? '—'));
  }

  async function pollEgress() {
    for (let pages = 0; pages < 10; pages++) {
      const data = await json(`${base}/egress?after=${egressAfter}&limit=1000`, { signal: ctx.signal });
      const events = data.events || [];
      const frag = document.createDocumentFragment();
      for (const ev of events) {
        if (egressRows < EGRESS_ROWS_MAX) { frag.append(egressRow(ev)); egressRows++; }
      }
      egressBody.append(frag);
      egressAfter += events.length;
      if (egressAfter) {
        egressWrap.hidden = false;
        egressNote.hidden = egressAfter <= EGRESS_ROWS_MAX;
        if (!egressNote.hidden) egressNote.textContent = `Showing the first ${EGRESS_ROWS_MAX} of ${egressAfter} events.`;
        setText(egressCount, `(${egressAfter})`);
      }
      if (data.next === null || data.next === undefined || !events.length) break;
    }
  }

  async function tail(final) {
    await Promise.all([
      out.poll(job.stdout_bytes || 0, ctx.signal, final),
      errp.poll(job.stderr_bytes || 0, ctx.signal, final),
      pollEgress(),
    ]);
  }

  // First load.
  const resp = await request(base, { signal: ctx.signal });
  if (resp.status === 404) {
    fill(msg, h('p.error', { role: 'alert' }, `No job ${id} (it may have been deleted).`));
    return;
  }
  if (!resp.ok) throw await failure(resp);
  etag = resp.headers.get('ETag');
  show(await resp.json());
  live.ok();

  // The object: long-poll until it has ended (one request per change, or every 5 s).
  (async () => {
    while (!ctx.signal.aborted && !ENDED.has(job.status)) {
      try {
        const headers = etag ? { 'If-None-Match': etag } : {};
        const r = await request(`${base}?wait_s=5`, { signal: ctx.signal, headers });
        if (r.status === 304) {
          setText(durEl, fmtDuration(jobDuration(job)));
        } else if (!r.ok) {
          throw await failure(r);
        } else {
          etag = r.headers.get('ETag');
          show(await r.json());
        }
        live.ok();
      } catch (e) {
        if (ctx.signal.aborted || e.name === 'AbortError' || e.status === 401) return;
        live.fail(e);
        await ctx.sleep(2000);
      }
    }
  })();

  // Output and egress: every second while the job runs, then a last read.
  let done = false;
  ctx.loop(async () => {
    if (done) return false;
    const ended = ENDED.has(job.status);
    await tail(ended);
    if (ended) {
      await tail(true); // the object's byte counts are final now: read up to them
      out.finish();
      errp.finish();
      done = true;
      live.el.textContent = `Ended (${job.status}).`;
      if (!egressAfter) egressNote.textContent = 'None: the job made no request through the proxy.';
      return false;
    }
  }, 1000, (e) => live.fail(e));
}
