import type { ServerResponse } from 'node:http';
import { errorCatalog, fromSystemError, isRegistryError, wireCode, type ErrorCode } from '../errors/index.js';

/** Common response helpers; the only place that writes error bodies. */

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, { ...headers, 'Content-Length': 0 });
  res.end();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | number> = {}, head = false): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers, 'Content-Length': data.length });
  res.end(head ? undefined : data);
}

export interface ErrorReport {
  status: number;
  code: ErrorCode;
  /** Whether this is a bug (logged at error with its stack) rather than bad input. */
  internal: boolean;
}

/**
 * Turns any thrown value into the OCI error body. RegistryErrors carry their
 * code, status and headers; anything else is a 500 UNKNOWN whose details stay
 * in the log and never reach the client.
 */
export function sendError(res: ServerResponse, thrown: unknown, head: boolean): ErrorReport {
  const err = fromSystemError(thrown) ?? thrown;
  const known = isRegistryError(err);
  const code: ErrorCode = known ? err.code : 'UNKNOWN';
  const status = known ? err.status : errorCatalog.UNKNOWN.status;
  if (res.headersSent) {
    res.destroy();
    return { status, code, internal: !known };
  }
  const message = known ? err.message : errorCatalog.UNKNOWN.message;
  const entry: Record<string, unknown> = { code: wireCode(code), message };
  if (known && err.detail !== undefined) entry.detail = err.detail;
  sendJson(res, status, { errors: [entry] }, known ? err.headers : {}, head);
  return { status, code, internal: !known };
}
