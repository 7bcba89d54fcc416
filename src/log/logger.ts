import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type { Logger } from 'pino';

/**
 * Structured JSON logs (one line each). Rules: static lower-case messages;
 * values in fields with stable dotted names (`http.request.id`, `repo`,
 * `digest`, `err.code`); 5xx at error, 4xx at info, expected misses at
 * debug. Secrets never reach a logger: the redaction list is a second fence.
 */
export function createLogger(options: { level: LogLevel; fields?: Readonly<Record<string, unknown>>; destination?: NodeJS.WritableStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'berth', ...(options.fields ?? {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['authorization', 'password', 'secret', 'token', '*.authorization', '*.password', '*.secret', '*.token', 'req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    },
    (options.destination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that drops everything (tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
