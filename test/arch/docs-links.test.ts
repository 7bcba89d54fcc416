import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Every relative link in the README and docs/ leads to a file that exists,
 * and every `#anchor` to a heading of that file, as GitHub names headings.
 * Run from dist/test/arch/, so the repository root is three levels up.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function markdownFiles(): Promise<string[]> {
  const docs = (await readdir(path.join(repoRoot, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f));
  return ['README.md', 'bench/README.md', ...docs];
}

/** The text outside fenced code blocks and inline code, where links are links. */
function prose(markdown: string): string {
  return markdown.replace(/^[ \t]*(```|~~~)[^\n]*\n[\s\S]*?^[ \t]*\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const withoutCode = markdown.replace(/^[ \t]*(```|~~~)[^\n]*\n[\s\S]*?^[ \t]*\1[^\n]*$/gm, '');
  for (const m of withoutCode.matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
    const text = (m[1] as string)
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(text) ?? 0;
    seen.set(text, n + 1);
    out.add(n === 0 ? text : `${text}-${n}`);
  }
  return out;
}

test('relative links in the README and docs/ lead to existing files and headings', async () => {
  const broken: string[] = [];
  const files = await markdownFiles();
  assert.ok(files.length > 2, 'docs/ holds no markdown files');
  for (const file of files) {
    const text = await readFile(path.join(repoRoot, file), 'utf8');
    for (const m of prose(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1] as string;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [ref = '', anchor] = target.split('#');
      const resolved = ref === '' ? path.join(repoRoot, file) : path.resolve(path.dirname(path.join(repoRoot, file)), decodeURIComponent(ref));
      const shown = `${file}: ${target}`;
      if (!resolved.startsWith(repoRoot + path.sep) || !existsSync(resolved)) {
        broken.push(`${shown} (no such file)`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchors(await readFile(resolved, 'utf8')).has(anchor)) {
        broken.push(`${shown} (no such heading)`);
      }
    }
  }
  assert.deepEqual(broken, [], 'fix these links (a heading\'s anchor is its text in lower case, punctuation dropped, spaces as hyphens)');
});

test('the anchor rule matches GitHub\'s for the headings the docs use', () => {
  const got = anchors('# Berth on PostgreSQL + S3 (`--backend`)\n## Docker token authentication (Bearer JWTs)\n## The `berth` command\n## Logs\n## Logs\n');
  assert.deepEqual([...got], ['berth-on-postgresql--s3---backend', 'docker-token-authentication-bearer-jwts', 'the-berth-command', 'logs', 'logs-1']);
});
