// ESLint for Berth: type-aware rules from typescript-eslint over src/, test/
// and bench/, using the project's tsconfig.json. Run it with `npm run lint`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tseslint from 'typescript-eslint';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * Which parts of src/ each part may import: the same table that
 * test/arch/dependencies.test.ts checks, so the two cannot drift apart.
 * @type {Record<string, string[]>}
 */
const allowed = JSON.parse(readFileSync(path.join(root, 'test/arch/parts.json'), 'utf8'));

/** The deepest folder below src/<part>/ that holds a .ts file (1 = src/<part>/x.ts). */
function maxDepth(dir, depth = 1) {
  let max = depth;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) max = Math.max(max, maxDepth(path.join(dir, e.name), depth + 1));
  }
  return max;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * One block per part and folder depth. An import string is matched as
 * written, so a file d folders below src/ reaches src/ with exactly d `../`
 * (src/app.ts with `./`); what follows must then be the part itself or one
 * it may import. Anything else at the top of src/, a part missing from the
 * table included, is refused, as the architecture test refuses it. Like that
 * test, unit tests (*.test.ts) and shared suites (*-suite.ts) are exempt.
 * Dynamic import() is checked with the same pattern by no-restricted-syntax,
 * which no-restricted-imports does not look at.
 */
function partBoundaries() {
  const exempt = ['**/*.test.ts', '**/*-suite.ts'];
  const blocks = [{
    // Overridden below for every part in the table: what is left is a part
    // the table does not know, which the architecture test refuses as well.
    files: ['src/**/*.ts'],
    ignores: exempt,
    rules: {
      'no-restricted-syntax': ['error', {
        selector: 'Program',
        message: 'This part of src/ has no entry in test/arch/parts.json: add it with the parts it may import.',
      }],
    },
  }];
  for (const [part, may] of Object.entries(allowed)) {
    const isFile = existsSync(path.join(root, 'src', `${part}.ts`));
    const dir = path.join(root, 'src', part);
    if (!isFile && !existsSync(dir)) continue; // in the table, not (or no longer) in src/
    const depths = isFile ? [0] : Array.from({ length: maxDepth(dir) }, (_, i) => i + 1);
    const ok = [part, ...may].map(escape).join('|');
    const message = `src/${part} may import only ${may.length ? may.join(', ') : 'no other part'} (test/arch/parts.json).`;
    for (const d of depths) {
      const up = d === 0 ? '\\./' : `(?:\\./)?(?:\\.\\./){${d}}`;
      // The segment after `up` names a part: not `..` (outside src/), not
      // an allowed part (as a folder, or a file such as app.ts / app.js).
      const regex = `^${up}(?!(?:${ok})(?:/|\\.[jt]s$|$))[^./]`;
      blocks.push({
        files: [d === 0 ? `src/${part}.ts` : `src/${part}/${'*/'.repeat(d - 1)}*.ts`],
        ignores: exempt,
        rules: {
          'no-restricted-imports': ['error', { patterns: [{ regex, caseSensitive: true, message }] }],
          'no-restricted-syntax': ['error', {
            // esquery ends a regex at the first '/', so '/' is written \x2F.
            selector: `ImportExpression[source.value=/${regex.replaceAll('/', '\\x2F')}/]`,
            message,
          }],
        },
      });
    }
  }
  return blocks;
}

/** @type {import('eslint').Linter.Config[]} */
export default [
  { ignores: ['dist/', 'node_modules/', 'deploy/'] },
  {
    files: ['**/*.ts'],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: root },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test runs top-level describe/it/test itself; awaiting them is
        // neither needed nor usual. The name also matches a subtest, t.test(),
        // which must be awaited: the block below checks that.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-ignore': 'allow-with-description', 'ts-expect-error': 'allow-with-description' }],
    },
  },
  {
    // A subtest left running is cancelled when its parent ends, and its
    // assertions never count (the no-floating-promises exemption for
    // node:test's test() cannot tell t.test() apart).
    files: ['test/**/*.ts', '**/*.test.ts', '**/*-suite.ts'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "ExpressionStatement > CallExpression.expression[callee.type='MemberExpression'][callee.property.name='test']",
        message: 'Await the subtest (await t.test(...)): one left running is cancelled with its parent.',
      }],
    },
  },
  ...partBoundaries(),
];
