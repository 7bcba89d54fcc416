import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configReference } from '../config/reference.js';
import { errorReference } from '../errors/reference.js';

/**
 * The sections of docs/ that are generated from code, between marker
 * comments:
 *
 *   <!-- BEGIN GENERATED: config -->
 *   …written by `npm run docs`…
 *   <!-- END GENERATED: config -->
 *
 * `npm run docs` (docs.ts) rewrites them; each generator's test compares
 * them with the code, so neither can change without the other.
 */

export interface GeneratedSection {
  /** Path from the repository root. */
  readonly file: string;
  /** The name in the markers. */
  readonly name: string;
  readonly render: () => Promise<string>;
}

export const GENERATED_SECTIONS: readonly GeneratedSection[] = [
  { file: 'docs/configuration.md', name: 'config', render: configReference },
  { file: 'docs/errors.md', name: 'errors', render: async () => errorReference() },
];

/** The repository root, found from this file (dist/src/cli/ when compiled), not from the working directory. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function markers(name: string): { begin: string; end: string } {
  return { begin: `<!-- BEGIN GENERATED: ${name} -->`, end: `<!-- END GENERATED: ${name} -->` };
}

/** Where the section's content lies in `text` (between the marker lines), or null without both markers in order. */
function locate(text: string, name: string): { from: number; to: number } | null {
  const { begin, end } = markers(name);
  const b = text.indexOf(begin);
  const e = text.indexOf(end);
  if (b < 0 || e < b) return null;
  return { from: b + begin.length + 1, to: e };
}

/** The content between the markers, or null when they are missing. */
export function extractSection(text: string, name: string): string | null {
  const at = locate(text, name);
  return at ? text.slice(at.from, at.to) : null;
}

/** `text` with the section's content replaced by `content`; throws when the markers are missing. */
export function replaceSection(text: string, name: string, content: string): string {
  const at = locate(text, name);
  if (!at) {
    const { begin, end } = markers(name);
    throw new Error(`no generated section "${name}": add the lines ${begin} and ${end} where the reference belongs`);
  }
  return text.slice(0, at.from) + content + text.slice(at.to);
}

/** Reads a generated section as it stands in the repository. */
export async function readSection(file: string, name: string): Promise<string | null> {
  return extractSection(await readFile(path.join(REPO_ROOT, file), 'utf8'), name);
}

/** Rewrites every generated section; returns the files whose content changed. */
export async function writeGeneratedDocs(): Promise<string[]> {
  const changed: string[] = [];
  for (const section of GENERATED_SECTIONS) {
    const full = path.join(REPO_ROOT, section.file);
    const before = await readFile(full, 'utf8');
    const after = replaceSection(before, section.name, await section.render());
    if (after !== before) {
      await writeFile(full, after);
      changed.push(section.file);
    }
  }
  return changed;
}
