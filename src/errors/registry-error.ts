import { errorCatalog, type ErrorCode } from './catalog.js';

export interface RegistryErrorOptions {
  /** Extra machine-readable detail sent to the client (never secrets). */
  detail?: unknown;
  /** Headers to add to the error response (e.g. `Range` on a 416). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * The one error class of Berth. Domain code throws it; exactly one place (the
 * HTTP layer's error writer) turns it into the OCI `{"errors":[...]}` body.
 *
 * @example
 * throw new RegistryError('BLOB_UNKNOWN', 'blob sha256:ab… is not in repository x', { detail: { digest } });
 */
export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, options: RegistryErrorOptions = {}) {
    super(message ?? errorCatalog[code].message, { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.detail = options.detail;
    // The status comes from the catalogue only: a case with another status is its own entry.
    this.status = errorCatalog[code].status;
    this.headers = options.headers ?? {};
  }
}

/**
 * The catalogue error for a failure of the machine rather than of the
 * request, wherever it was raised (the storage driver, SQLite): a full disk
 * or quota is BERTH_STORAGE_FULL, not a 500. Null for anything else.
 */
export function fromSystemError(err: unknown): RegistryError | null {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || (typeof message === 'string' && /database or disk is full/.test(message))) {
      return new RegistryError('BERTH_STORAGE_FULL', undefined, { cause: err });
    }
  }
  return null;
}

export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError;
}
