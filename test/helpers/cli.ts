import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI, wherever the tests run from. */
export const BERTH_BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliResult { status: number | null; stdout: string; stderr: string }

/**
 * Runs `berth ARGS` in a child process without blocking the event loop (a
 * server in the same test process goes on answering), with only PATH and
 * `env` in its environment, and resolves with its exit status and output.
 */
export function runBerth(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BERTH_BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString('utf8'); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString('utf8'); });
    child.on('error', reject);
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}
