// A live output pane for a job's stdout or stderr: tails by ?offset (X-Airlock-Offset says where
// the next read starts), decodes UTF-8 across reads, renders ANSI colours (SGR) as spans with
// classes and drops every other escape or control sequence, so no raw escape byte reaches the
// page. Text is appended as text nodes, never parsed as HTML. The rendered text is capped: past
// CAP characters the oldest chunks are dropped (a note says so), and a job with more output than
// that starts from its last CAP bytes; the full output is one "Download" away.

import { h, fmtBytes } from './dom.js';
import { request, failure, download } from './api.js';

const CAP = 200 * 1024; // characters kept in the page per stream
const CHUNK_LIMIT = 512; // chunk elements before they are merged away

const FG = new Set([30, 31, 32, 33, 34, 35, 36, 37, 90, 91, 92, 93, 94, 95, 96, 97]);

export class AnsiParser {
  constructor() {
    this.pending = '';
    this.fg = null;
    this.bold = false;
  }

  // Returns [{text, cls}] for a decoded piece of text. An escape sequence cut by the end of the
  // piece is kept for the next one.
  push(text) {
    let s = this.pending + text;
    this.pending = '';
    const out = [];
    let i = 0, start = 0;
    const emit = (end) => {
      if (end > start) {
        const t = s.slice(start, end).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '').replace(/\r\n/g, '\n').replace(/\r/g, '\n');
        if (t) out.push({ text: t, cls: this.cls() });
      }
    };
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c !== 0x1b && c !== 0x9b) { i++; continue; }
      emit(i);
      const rest = s.slice(i);
      let m;
      if ((m = /^(?:\x1b\[|\x9b)([0-?]*)([ -/]*)([@-~])/.exec(rest))) {
        if (m[3] === 'm' && m[2] === '') this.sgr(m[1]);
        i += m[0].length;
      } else if ((m = /^\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/.exec(rest))) {
        i += m[0].length; // OSC (titles, hyperlinks): dropped
      } else if ((m = /^\x1b[PX^_][^\x1b]*\x1b\\/.exec(rest))) {
        i += m[0].length; // DCS, SOS, PM, APC: dropped
      } else if (/^(?:\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*|\][^\x07]*\x1b|[PX^_][^\x1b]*\x1b?)?|\x9b[0-?]*[ -/]*)$/.test(rest) && rest.length < 256) {
        this.pending = rest; // incomplete: wait for the next read
        i = s.length;
        start = i;
        return out;
      } else if ((m = /^\x1b[ -/]*[0-~]/.exec(rest))) {
        i += m[0].length; // other two-byte escapes: dropped
      } else {
        i += 1; // a lone ESC: dropped
      }
      start = i;
    }
    emit(i);
    return out;
  }

  sgr(params) {
    const codes = params === '' ? [0] : params.split(';').map((p) => (p === '' ? 0 : Number(p)));
    for (let k = 0; k < codes.length; k++) {
      const n = codes[k];
      if (n === 0) { this.fg = null; this.bold = false; }
      else if (n === 1) this.bold = true;
      else if (n === 22) this.bold = false;
      else if (n === 39) this.fg = null;
      else if (FG.has(n)) this.fg = n;
      else if (n === 38 || n === 48) k += codes[k + 1] === 5 ? 2 : codes[k + 1] === 2 ? 4 : 1; // 256/true colour: skipped
    }
  }

  cls() {
    const c = [];
    if (this.fg !== null) c.push(`ansi-${this.fg}`);
    if (this.bold) c.push('ansi-bold');
    return c.join(' ');
  }
}

export class OutputPane {
  // jobId, stream: 'stdout' | 'stderr'
  constructor(jobId, stream) {
    this.jobId = jobId;
    this.stream = stream;
    this.offset = null; // null: not read yet
    this.decoder = new TextDecoder('utf-8', { fatal: false });
    this.parser = new AnsiParser();
    this.rendered = 0;
    this.dropped = 0;
    this.busy = false;
    this.pre = h('pre.output', { tabindex: '0', 'aria-label': `${stream} of job ${jobId}`, 'aria-live': 'off', dataset: { stream } });
    this.note = h('p.note', { hidden: true });
    this.sizeEl = h('span.muted', null, '');
    this.empty = h('span.muted.empty-output', null, '(no output yet)');
    this.pre.append(this.empty);
    this.el = h('section.output-pane', { 'aria-labelledby': `h-${stream}` },
      h('div.pane-head', null,
        h('h3', { id: `h-${stream}` }, stream), ' ', this.sizeEl,
        h('button.small', { type: 'button', onclick: () => this.downloadAll() }, `Download ${stream}`)),
      this.note, this.pre);
  }

  async downloadAll() {
    try {
      await download(`/v1/jobs/${encodeURIComponent(this.jobId)}/${this.stream}`, `${this.jobId}.${this.stream}.txt`);
    } catch (e) {
      this.note.hidden = false;
      this.note.textContent = `Download failed: ${e.message}`;
    }
  }

  // Reads what is new. totalBytes: the job object's <stream>_bytes (to skip to the tail of a
  // long output on the first read); final: the job has ended, so totalBytes is exact and no read
  // is needed once the pane has reached it.
  async poll(totalBytes, signal, final = false) {
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.offset === null) {
        this.offset = 0;
        if (totalBytes > CAP) {
          this.offset = totalBytes - CAP;
          this.dropped += this.offset;
          this.showDropped();
        }
      } else if (final && totalBytes <= this.offset) {
        return; // nothing new
      }
      const resp = await request(`/v1/jobs/${encodeURIComponent(this.jobId)}/${this.stream}?offset=${this.offset}`, { signal });
      if (!resp.ok) throw await failure(resp);
      const buf = await resp.arrayBuffer();
      const next = Number(resp.headers.get('X-Airlock-Offset'));
      this.offset = Number.isFinite(next) && next >= this.offset ? next : this.offset + buf.byteLength;
      if (buf.byteLength) this.render(this.decoder.decode(buf, { stream: true }));
      this.sizeEl.textContent = `(${fmtBytes(this.offset)})`;
    } finally {
      this.busy = false;
    }
  }

  render(text) {
    const segs = this.parser.push(text);
    if (!segs.length) return;
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 8;
    if (this.empty.isConnected) this.empty.remove();
    const frag = document.createDocumentFragment();
    for (const { text: t, cls } of segs) {
      if (cls) {
        const span = document.createElement('span');
        span.className = cls;
        span.textContent = t;
        frag.append(span);
      } else {
        frag.append(document.createTextNode(t));
      }
      this.rendered += t.length;
    }
    this.pre.append(frag);
    this.trim();
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }

  // Keeps at most CAP characters (and a bounded number of nodes) in the page.
  trim() {
    while (this.rendered > CAP && this.pre.firstChild) {
      const n = this.pre.firstChild;
      const len = n.textContent.length;
      const over = this.rendered - CAP;
      if (n.nodeType === Node.TEXT_NODE && len > over) {
        n.textContent = n.textContent.slice(over); // trim inside the first text node
        this.rendered -= over;
        this.dropped += over;
        break;
      }
      n.remove();
      this.rendered -= len;
      this.dropped += len;
    }
    if (this.pre.childNodes.length > CHUNK_LIMIT * 2) this.pre.normalize();
    if (this.dropped) this.showDropped();
  }

  showDropped() {
    this.note.hidden = false;
    this.note.textContent = `The first ${fmtBytes(this.dropped)} are not shown (the page keeps the last ${fmtBytes(CAP)}); "Download ${this.stream}" has all of it.`;
  }

  finish() {
    const rest = this.decoder.decode();
    if (rest) this.render(rest);
  }
}
