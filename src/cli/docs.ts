import { writeGeneratedDocs } from './generated-docs.js';

/**
 * `npm run docs`: rewrites the generated sections of docs/ (the
 * configuration and error references) from the code. A developer tool, not
 * a `berth` command.
 */
try {
  const changed = await writeGeneratedDocs();
  process.stdout.write(changed.length > 0 ? `docs: rewrote ${changed.join(', ')}\n` : 'docs: generated sections already up to date\n');
} catch (err) {
  process.stderr.write(`docs: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
