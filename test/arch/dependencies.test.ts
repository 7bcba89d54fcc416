import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const srcRoot = path.join(repoRoot, 'src');

/**
 * Dependencies point one way. Each part lists the parts it may import;
 * anything else fails this test. The table lives in parts.json beside this
 * file because eslint.config.js enforces the same table as a lint rule
 * (no-restricted-imports), in the editor, before the tests run.
 */
const allowed = JSON.parse(await readFile(path.join(repoRoot, 'test/arch/parts.json'), 'utf8')) as Record<string, string[]>;

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('-suite.ts')) yield p;
  }
}

function partOf(file: string): string {
  const rel = path.relative(srcRoot, file);
  const first = rel.split(path.sep)[0] as string;
  return first.replace(/\.(ts|js)$/, '');
}

test('parts import only the parts they are allowed to', async () => {
  const violations: string[] = [];
  for await (const file of tsFiles(srcRoot)) {
    const from = partOf(file);
    const rules = allowed[from];
    assert.ok(rules, `src/${from} has no dependency rule; add it to test/arch/parts.json`);
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import\(?)\s*'(\.[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), m[1] as string);
      if (!target.startsWith(srcRoot)) continue;
      const to = partOf(target);
      if (to !== from && !rules.includes(to)) violations.push(`${path.relative(srcRoot, file)} imports ${to}`);
    }
  }
  assert.deepEqual(violations, []);
});
