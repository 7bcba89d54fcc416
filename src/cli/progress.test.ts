import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Progress } from './progress.js';

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns: 80, write: (s: string) => { out.push(s); return true; } } };
}

describe('Progress', () => {
  it('draws a bar in place on a terminal, and ends it with a line of its own', () => {
    const { out, stream } = sink(true);
    const p = new Progress({ label: 'importing', total: 2_000_000, unit: 'bytes', stream });
    p.advance(1_000_000, 'sha256:ab');
    p.finish('2 images');
    assert.equal(out[0], `\r\x1b[Kimporting [${'#'.repeat(12)}${' '.repeat(12)}]  50% 1.0MB/2.0MB  sha256:ab`);
    assert.match(out[1] ?? '', /^\r\x1b\[Kimporting: 2 images in \d+\.\ds\n$/);
    assert.equal(out.length, 2);
  });

  it('writes plain lines, no more often than asked, when standard error is not a terminal', () => {
    const { out, stream } = sink(false);
    const p = new Progress({ label: 'fsck', total: 4, stream, lineEveryMs: 60_000 });
    p.advance(1);
    p.advance(1); // within a minute of the first line: not written
    p.finish();
    assert.deepEqual(out.map((l) => l.replace(/in \d+\.\ds/, 'in Ts')), ['fsck: 25% 1/4\n', 'fsck: done, 2 in Ts\n']);
  });

  it('says nothing when quiet (--json)', () => {
    const { out, stream } = sink(true);
    const p = new Progress({ label: 'export', quiet: true, stream });
    p.advance(5);
    p.finish();
    assert.deepEqual(out, []);
  });
});
