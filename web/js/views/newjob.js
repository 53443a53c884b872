// The form that starts a job (POST /v1/jobs), then opens its page.
//
// The command: several lines are one argument per line, taken as they are (spaces and quotes
// included; empty lines are skipped). A single line is split like a POSIX shell splits words:
// on blanks, with '...' (literal), "..." (backslash escapes \ " $ ` only) and backslash
// escapes outside quotes. No expansion of any kind: no variables, globs, pipes or redirections
// (use `sh -c '...'` for those).

import { h, fill, errorBox } from '../dom.js';
import { json } from '../api.js';
import { heading } from './common.js';

export function shellSplit(line) {
  const args = [];
  let cur = '', inArg = false, i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ' || c === '\t') {
      if (inArg) { args.push(cur); cur = ''; inArg = false; }
      i++;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error('command: an unterminated single quote');
      cur += line.slice(i + 1, end);
      inArg = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      inArg = true;
      for (;;) {
        if (i >= line.length) throw new Error('command: an unterminated double quote');
        const d = line[i];
        if (d === '"') { i++; break; }
        if (d === '\\' && i + 1 < line.length && '\\"$`'.includes(line[i + 1])) { cur += line[i + 1]; i += 2; continue; }
        cur += d;
        i++;
      }
    } else if (c === '\\') {
      if (i + 1 < line.length) cur += line[i + 1];
      inArg = true;
      i += 2;
    } else {
      cur += c;
      inArg = true;
      i++;
    }
  }
  if (inArg) args.push(cur);
  return args;
}

export function parseCommand(text) {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  while (lines.length && lines[0].trim() === '') lines.shift();
  if (lines.length === 0) throw new Error('command: enter a command');
  if (lines.length === 1) return shellSplit(lines[0]);
  return lines.filter((l) => l !== '');
}

// "K=V" lines into an object (what: the field's name, for the message).
export function parsePairs(text, what) {
  const out = {};
  text.replace(/\r\n/g, '\n').split('\n').forEach((line, n) => {
    if (line.trim() === '') return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`${what}, line ${n + 1}: expected NAME=value`);
    const k = line.slice(0, eq).trim();
    if (Object.hasOwn(out, k)) throw new Error(`${what}, line ${n + 1}: ${k} is given twice`);
    out[k] = line.slice(eq + 1);
  });
  return out;
}

export async function render(view, ctx) {
  const err = h('div', { 'aria-live': 'polite' });
  const command = h('textarea', { id: 'nj-command', name: 'command', rows: '3', required: true, spellcheck: 'false', placeholder: "sh -c 'echo hello; ls -l'" });
  const policy = h('select', { id: 'nj-policy', name: 'policy' }, h('option', { value: 'default' }, 'default'));
  const timeout = h('input', { id: 'nj-timeout', name: 'timeout_s', type: 'number', min: '1', step: '1', inputmode: 'numeric', placeholder: "the policy's" });
  const workspace = h('select', { id: 'nj-workspace', name: 'workspace' }, h('option', { value: '' }, 'a fresh one of its own'));
  const env = h('textarea', { id: 'nj-env', name: 'env', rows: '2', spellcheck: 'false', placeholder: 'NAME=value, one per line' });
  const labels = h('textarea', { id: 'nj-labels', name: 'labels', rows: '2', spellcheck: 'false', placeholder: 'key=value, one per line' });
  const stdin = h('textarea', { id: 'nj-stdin', name: 'stdin', rows: '2', spellcheck: 'false' });
  const files = h('div.file-rows');
  const picker = h('input', { id: 'nj-pick', type: 'file', multiple: true });

  function fileRow(name = '', content = '') {
    const n = files.children.length + 1;
    const nameIn = h('input.file-name', { id: `nj-file-name-${n}`, value: name, placeholder: 'path/in/workspace.py', spellcheck: 'false' });
    const contentIn = h('textarea.file-content', { id: `nj-file-content-${n}`, rows: '3', spellcheck: 'false', value: content });
    const row = h('fieldset.file-row', null,
      h('legend', null, `File ${n}`),
      h('label', { for: nameIn.id }, 'Path'), nameIn,
      h('label', { for: contentIn.id }, 'Content'), contentIn,
      h('button.small', { type: 'button', onclick: () => row.remove() }, 'Remove'));
    files.append(row);
    return nameIn;
  }

  picker.addEventListener('change', async () => {
    for (const f of picker.files) fileRow(f.name, await f.text());
    picker.value = '';
  });

  const form = h('form.newjob', { novalidate: true },
    h('div.field', null, h('label', { for: 'nj-command' }, 'Command'), command,
      h('p.hint', null, 'One line: split like a shell (quotes and backslashes; no variables, globs or pipes: use sh -c for those). Several lines: one argument per line, as typed.')),
    h('div.row', null,
      h('div.field', null, h('label', { for: 'nj-policy' }, 'Policy'), policy),
      h('div.field', null, h('label', { for: 'nj-timeout' }, 'Timeout (s)'), timeout),
      h('div.field', null, h('label', { for: 'nj-workspace' }, 'Workspace'), workspace)),
    h('div.row', null,
      h('div.field', null, h('label', { for: 'nj-env' }, 'Environment'), env),
      h('div.field', null, h('label', { for: 'nj-labels' }, 'Labels'), labels)),
    h('div.field', null, h('span.label', null, 'Files written into the workspace before the start'), files,
      h('div.file-actions', null,
        h('button.small', { type: 'button', onclick: () => fileRow().focus() }, 'Add a file'),
        h('label.small', { for: 'nj-pick' }, 'or read files from this computer (as text):'), picker)),
    h('div.field', null, h('label', { for: 'nj-stdin' }, 'Standard input'), stdin),
    err,
    h('div.actions', null, h('button.primary', { type: 'submit', id: 'nj-submit' }, 'Start job')));

  fill(view, h('p.crumbs', null, h('a', { href: '#/jobs' }, '« Jobs')), heading('New job'), form);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    let body;
    try {
      body = { command: parseCommand(command.value), policy: policy.value };
      if (timeout.value.trim()) {
        const t = Number(timeout.value);
        if (!Number.isInteger(t) || t < 1) throw new Error('timeout: a whole number of seconds, 1 or more');
        body.timeout_s = t;
      }
      if (workspace.value) body.workspace = workspace.value;
      const e = parsePairs(env.value, 'environment');
      if (Object.keys(e).length) body.env = e;
      const l = parsePairs(labels.value, 'labels');
      if (Object.keys(l).length) body.labels = l;
      if (stdin.value) body.stdin = stdin.value;
      const f = {};
      for (const row of files.querySelectorAll('.file-row')) {
        const name = row.querySelector('.file-name').value.trim();
        const content = row.querySelector('.file-content').value;
        if (!name && !content) continue;
        if (!name) throw new Error('files: a file has content but no path');
        if (Object.hasOwn(f, name)) throw new Error(`files: ${name} is given twice`);
        f[name] = content;
      }
      if (Object.keys(f).length) body.files = f;
    } catch (e) {
      fill(err, errorBox(e));
      return;
    }
    const submit = form.querySelector('#nj-submit');
    submit.disabled = true;
    try {
      const job = await json('/v1/jobs', { method: 'POST', body, signal: ctx.signal });
      ctx.go(`#/jobs/${encodeURIComponent(job.id)}`);
    } catch (e) {
      if (e.name !== 'AbortError') fill(err, errorBox(e));
    } finally {
      submit.disabled = false;
    }
  });

  // The choices, once known.
  try {
    const [pols, wss] = await Promise.all([
      json('/v1/policies', { signal: ctx.signal }),
      json('/v1/workspaces', { signal: ctx.signal }).catch(() => ({ workspaces: [] })),
    ]);
    const want = ctx.query.get('policy') || 'default';
    fill(policy, (pols.policies || []).map((p) => h('option', { value: p.name, selected: p.name === want, title: p.description || '' },
      p.description ? `${p.name} — ${p.description}` : p.name)));
    const wantWs = ctx.query.get('workspace') || '';
    for (const w of wss.workspaces || []) {
      const lab = Object.entries(w.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ');
      workspace.append(h('option', { value: w.id, selected: w.id === wantWs }, lab ? `${w.id} (${lab})` : w.id));
    }
  } catch (e) {
    if (e.name !== 'AbortError' && e.status !== 401) fill(err, errorBox(e));
  }
}
