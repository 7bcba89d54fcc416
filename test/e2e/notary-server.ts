// Debian's notary-server (Notary 0.7.0), the reference for the differential
// tests of Berth's Notary API: started as a child process over TLS with an
// in-memory store and the local trust service (no notary-signer, no auth),
// and small HTTPS helpers that trust only the test CA.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { freePortIn, RingLog, settlesWithin, sleep } from './util.js';

export const NOTARY_SERVER = process.env.E2E_NOTARY_SERVER_BIN ?? '/usr/bin/notary-server';

/** This file's ports (registry-process.ts uses 15000-15099, cluster.ts 15100-15199, image.test.ts 15200-15299). */
const PORTS = { min: 15300, max: 15349 };

export interface HttpsResult {
  status: number;
  body: Buffer;
}

/** One HTTPS request trusting only `ca` (PEM); never throws for a status, only for a failed connection. */
export function httpsCall(url: string, o: { ca: string; method?: string; headers?: Record<string, string>; body?: Buffer; timeoutMs?: number }): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    let answered = false;
    // A new connection each time, as the docker CLI does: a kept-alive one may be closed by the server just as it is reused.
    const req = httpsRequest(url, { method: o.method ?? 'GET', headers: o.headers, ca: o.ca, agent: false, timeout: o.timeoutMs ?? 10_000 }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    // A server may answer (413) and close before reading the whole body: the
    // answer counts, the failed write of the rest (EPIPE, ECONNRESET) does not.
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    req.on('timeout', () => req.destroy(new Error(`${o.method ?? 'GET'} ${url}: no answer within ${o.timeoutMs ?? 10_000} ms`)));
    req.end(o.body);
  });
}

/**
 * Polls `url` until it answers 200 (each attempt waits for the previous one's
 * answer or refusal; the pause between them only paces the loop). Fails with
 * the last status or error after `timeoutMs`, or at once when `exited()` says
 * the server process is gone.
 */
export async function waitForOk(url: string, ca: string, timeoutMs: number, exited: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`the server exited before ${url} answered 200 (last: ${last})`);
    try {
      const r = await httpsCall(url, { ca, timeoutMs: 2000 });
      if (r.status === 200) return;
      last = `status ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

export interface RunningNotaryServer {
  /** https://localhost:PORT */
  url: string;
  /** localhost:PORT, as the notary CLI prints the server in its messages. */
  host: string;
  /** The server's combined output so far (JSON log lines). */
  logs(): string;
  stop(): Promise<void>;
}

export interface NotaryServerOptions {
  /** A folder for the config file. */
  dir: string;
  /** PEM server certificate and key for `localhost`, and the CA that issued them. */
  cert: string;
  key: string;
  ca: string;
  readyTimeoutMs?: number;
}

/**
 * Starts notary-server on a free port of localhost: memory storage, the
 * local trust service (the server's own keys, ed25519 in this build), TLS
 * with the given certificate, no auth. Resolves once
 * `/_notary_server/health` answers 200.
 */
export async function startNotaryServer(o: NotaryServerOptions): Promise<RunningNotaryServer> {
  const ca = await readFile(o.ca, 'utf8');
  const tried = new Set<number>();
  for (let attempt = 1; ; attempt++) {
    const port = await freePortIn(PORTS, tried);
    tried.add(port);
    const config = join(o.dir, `notary-server-${port}.json`);
    await writeFile(config, JSON.stringify({
      server: { http_addr: `127.0.0.1:${port}`, tls_cert_file: o.cert, tls_key_file: o.key },
      trust_service: { type: 'local' },
      storage: { backend: 'memory' },
      logging: { level: 'info' },
    }, null, 2));
    const log = new RingLog();
    const child: ChildProcess = spawn(NOTARY_SERVER, ['-config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let exitInfo: string | null = null;
    const exited = new Promise<void>((resolve) => {
      child.on('error', (e) => {
        exitInfo = `spawn error: ${e.message}`;
        resolve();
      });
      child.on('exit', (code, signal) => {
        exitInfo = `code ${code}, signal ${signal}`;
        resolve();
      });
    });
    child.stdout?.on('data', (b: Buffer) => log.push(b));
    child.stderr?.on('data', (b: Buffer) => log.push(b));
    const stop = async (): Promise<void> => {
      if (exitInfo) return;
      child.kill('SIGTERM');
      if (!(await settlesWithin(exited, 5000))) {
        child.kill('SIGKILL');
        await exited;
      }
    };
    const url = `https://localhost:${port}`;
    try {
      await waitForOk(`${url}/_notary_server/health`, ca, o.readyTimeoutMs ?? 20_000, () => exitInfo !== null);
      return { url, host: `localhost:${port}`, logs: () => log.text(), stop };
    } catch (e) {
      await stop();
      if (/address already in use/i.test(log.text()) && attempt < 5) continue;
      throw new Error(`notary-server did not start (${exitInfo ?? 'still running'}): ${(e as Error).message}\n--- notary-server output ---\n${log.text().slice(-4000) || '(empty)'}`);
    }
  }
}
