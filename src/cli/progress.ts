/**
 * Progress of a long command (import, export, backup, restore, fsck) on
 * standard error: a bar redrawn in place on a terminal, plain lines at most
 * every few seconds otherwise (a log file or CI keeps a readable record),
 * and nothing at all with --json or --quiet, whose standard output is the
 * command's summary alone.
 */
export interface ProgressOptions {
  /** What is being done: "importing", "backing up blobs". */
  label: string;
  /** The amount of work, when known (bytes or items, see `unit`). */
  total?: number;
  unit?: 'bytes' | 'items';
  /** Silent (--json, --quiet). */
  quiet?: boolean;
  /** Where to write: standard error unless a test gives its own. */
  stream?: NodeJS.WriteStream | { isTTY?: boolean; columns?: number; write(chunk: string): boolean };
  /** The least time between two plain lines, in ms. */
  lineEveryMs?: number;
}

const BAR = 24;

function amount(n: number, unit: 'bytes' | 'items'): string {
  if (unit === 'items') return String(n);
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toFixed(1)}${units[i]}`;
}

export class Progress {
  private done = 0;
  private total: number | undefined;
  private detail = '';
  private lastDraw = 0;
  private readonly started = Date.now();
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly unit: 'bytes' | 'items';

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.total = options.total;
    this.unit = options.unit ?? 'items';
  }

  /** Sets the amount of work once it is known. */
  setTotal(total: number): void {
    this.total = total;
  }

  /** Adds `n` to what is done; `detail` names the current item (a digest, a tag). */
  advance(n: number, detail?: string): void {
    this.done += n;
    if (detail !== undefined) this.detail = detail;
    this.draw(false);
  }

  /** Ends the bar with a last line (on a terminal, the bar's line is kept). */
  finish(message?: string): void {
    if (this.options.quiet) return;
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    const line = `${this.options.label}: ${message ?? `done, ${amount(this.done, this.unit)}`} in ${seconds}s`;
    this.stream.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
  }

  private line(): string {
    const total = this.total;
    const of = total !== undefined ? `${amount(this.done, this.unit)}/${amount(total, this.unit)}` : amount(this.done, this.unit);
    const pct = total !== undefined && total > 0 ? Math.min(100, Math.floor((this.done / total) * 100)) : undefined;
    const detail = this.detail ? `  ${this.detail}` : '';
    if (!this.tty) return `${this.options.label}: ${pct !== undefined ? `${pct}% ` : ''}${of}${detail}`;
    const filled = pct !== undefined ? Math.round((pct / 100) * BAR) : 0;
    const bar = pct !== undefined ? `[${'#'.repeat(filled)}${' '.repeat(BAR - filled)}] ${String(pct).padStart(3)}% ` : '';
    const text = `${this.options.label} ${bar}${of}${detail}`;
    const columns = 'columns' in this.stream && typeof this.stream.columns === 'number' ? this.stream.columns : 80;
    return text.length > columns - 1 ? text.slice(0, columns - 1) : text;
  }

  private draw(force: boolean): void {
    if (this.options.quiet) return;
    const now = Date.now();
    const every = this.tty ? 100 : (this.options.lineEveryMs ?? 2000);
    if (!force && now - this.lastDraw < every) return;
    this.lastDraw = now;
    this.stream.write(this.tty ? `\r\x1b[K${this.line()}` : `${this.line()}\n`);
  }
}
