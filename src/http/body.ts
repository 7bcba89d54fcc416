import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors/index.js';

/**
 * Reads a small request body whole, refusing more than `limit` bytes before
 * reading them when Content-Length says so, and while reading otherwise.
 */
export async function readBoundedBody(req: IncomingMessage, limit: number, tooLarge: () => RegistryError): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/**
 * A small JSON body (Content-Type application/json) read whole and parsed,
 * for the management APIs; `what` names the bodies in the too-large error
 * ("policy bodies are limited to …"). Validation is the caller's job.
 */
export async function readJsonBody(req: IncomingMessage, limit: number, what: string): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new RegistryError('BERTH_INVALID', 'the body must be application/json', { detail: [{ field: '(body)', message: 'Content-Type must be application/json' }] });
  const body = await readBoundedBody(req, limit, () => new RegistryError('BERTH_TOO_LARGE', `${what} bodies are limited to ${limit} bytes`));
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new RegistryError('BERTH_INVALID', 'the body is not valid JSON', { detail: [{ field: '(body)', message: 'not valid JSON' }] });
  }
}

/** The request's Content-Length, or undefined when absent. */
export function contentLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new RegistryError('SIZE_INVALID', 'invalid Content-Length');
  return n;
}

/** Whether the request carries a body at all. */
export function hasBody(req: IncomingMessage): boolean {
  const n = req.headers['content-length'];
  return (n !== undefined && n !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * The request body as a byte source for the registry core. Unlike iterating
 * `req` itself, stopping early (the store failed mid-upload, a chunk was
 * refused) does not destroy the request and with it the connection, so the
 * client still gets the error answer (with `Connection: close`).
 */
export function bodySource(req: IncomingMessage): AsyncIterable<Uint8Array> {
  return { [Symbol.asyncIterator]: () => req.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array> };
}
