// Unit tests of the dashboard's pure parts, in node (no browser): the ANSI parser of the output
// panes and the command splitting of the new job form. Run by run.sh before the browser tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnsiParser } from '../../web/js/output.js';
import { shellSplit, parseCommand, parsePairs } from '../../web/js/views/newjob.js';

const run = (...pieces) => {
  const p = new AnsiParser();
  return pieces.flatMap((x) => p.push(x));
};
const text = (segs) => segs.map((s) => s.text).join('');

test('SGR colours become classes, the escapes disappear', () => {
  const segs = run('a \x1b[31mred\x1b[0m b \x1b[1;32mbold green\x1b[m.');
  assert.equal(text(segs), 'a red b bold green.');
  assert.deepEqual(segs.map((s) => s.cls), ['', 'ansi-31', '', 'ansi-32 ansi-bold', '']);
});

test('an escape cut between two reads is held, not shown', () => {
  const segs = run('x\x1b[3', '1my\x1b', '[0mz');
  assert.equal(text(segs), 'xyz');
  assert.equal(segs.find((s) => s.text === 'y').cls, 'ansi-31');
});

test('other sequences and control bytes are dropped', () => {
  const segs = run('\x1b]0;title\x07a\x1b[2J\x1b[Hb\x1b(Bc\x07\x08\x00d\x1bPdcs\x1b\\e\r\nf\x9b31mg');
  assert.equal(text(segs), 'abcd' + 'e\nfg');
  assert.ok(!/[\x00-\x08\x0b-\x1f\x7f\x9b]/.test(text(segs)));
});

test('256 and true colours are skipped without eating the text', () => {
  assert.equal(text(run('\x1b[38;5;196mA\x1b[38;2;1;2;3mB\x1b[0m')), 'AB');
});

test('one line is split like a shell', () => {
  assert.deepEqual(shellSplit(`sh -c 'echo "hi there"; ls'`), ['sh', '-c', 'echo "hi there"; ls']);
  assert.deepEqual(shellSplit(`a "b \\"c\\" \\$d \\n" e\\ f ''`), ['a', 'b "c" $d \\n', 'e f', '']);
  assert.throws(() => shellSplit(`echo 'oops`), /unterminated single quote/);
  assert.throws(() => shellSplit(`echo "oops`), /unterminated double quote/);
});

test('several lines are one argument each, as typed', () => {
  assert.deepEqual(parseCommand('python3\n-c\nprint("a b")\n'), ['python3', '-c', 'print("a b")']);
  assert.deepEqual(parseCommand('  echo  "x"  '), ['echo', 'x']);
  assert.throws(() => parseCommand('  \n '), /enter a command/);
});

test('K=V lines', () => {
  assert.deepEqual(parsePairs('A=1\n\nB=x=y\n', 'env'), { A: '1', B: 'x=y' });
  assert.throws(() => parsePairs('nope', 'env'), /line 1: expected NAME=value/);
  assert.throws(() => parsePairs('A=1\nA=2', 'env'), /given twice/);
});
