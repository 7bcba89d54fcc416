// Shared by the deploy/ tests: where the repository is, whether a tool is installed.

import { fileURLToPath } from 'node:url';
import { run } from '../e2e/util.js';

/** Repository root: this file is compiled to <root>/dist/test/deploy/helpers.js. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** True when `cmd` can be run (found on PATH or at the given path). */
export async function commandExists(cmd: string): Promise<boolean> {
  const r = await run('sh', ['-c', 'command -v "$1" >/dev/null 2>&1', 'sh', cmd], { allowFailure: true });
  return r.code === 0;
}

