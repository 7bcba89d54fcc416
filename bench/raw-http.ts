// A minimal HTTP/1.1 keep-alive client over node:net.
//
// Why not node:http / undici: on this 2-core machine the client shares the CPU
// with the registry under test, undici closes the connection after each HEAD,
// and a Node HTTP client (undici) tops out around 0.6-0.9 GB/s when pulling
// (performance notes), below what the reference serves. A raw
// socket with a tiny parser keeps the client's share small and equal for both
// targets. One request at a time per connection (no pipelining). Large
// downloads can read through one reused buffer (`readBufferSize`, net onread).
// Handles Content-Length, chunked and read-until-close bodies, 1xx, HEAD/204/304.
import net from 'node:net';

export interface RawResponse {
  status: number;
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** Collected body (empty when a sink was given or for HEAD). */
  body: Buffer;
  /** Body bytes received (also counted when a sink consumed them). */
  bodyBytes: number;
}

export interface RawRequest {
  method: string;
  /** Path plus query, e.g. /v2/foo/manifests/latest */
  path: string;
  headers?: Record<string, string>;
  /** Request body; Content-Length is set from it. Several buffers are written in order. */
  body?: Buffer | Buffer[];
  /** When given, response body chunks go here instead of being collected. */
  sink?: (chunk: Buffer) => void;
  /** Per-request timeout in ms (default 120 s). */
  timeoutMs?: number;
  /** Prebuilt request head (from buildHead) for body-less requests sent many times; skips formatting. */
  head?: Buffer;
}

type Phase = 'head' | 'body' | 'close' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers';

interface Pending {
  req: RawRequest;
  resolve: (r: RawResponse) => void;
  reject: (e: Error) => void;
  phase: Phase;
  status: number;
  headers: Map<string, string>;
  remaining: number;
  chunks: Buffer[];
  bodyBytes: number;
  gotBytes: boolean;
  closeAfter: boolean;
  timer: NodeJS.Timeout | null;
}

const EMPTY = Buffer.alloc(0);

export class RawConn {
  private socket: net.Socket | null = null;
  private connecting: Promise<void> | null = null;
  private leftover: Buffer | null = null;
  private cur: Pending | null = null;
  /** Requests completed on the current socket (a reused socket may have been closed by the server while idle). */
  private completedOnSocket = 0;

  /**
   * readBufferSize: read through one reused buffer of this size (net `onread`)
   * instead of a fresh 64 KiB Buffer and a stream 'data' event per read. That
   * roughly halves the client's CPU per byte on large downloads, so pulls
   * measure the server rather than the client. Body chunks handed to a sink are
   * then views into the shared buffer: sinks must consume them synchronously.
   */
  constructor(readonly host: string, readonly port: number, private readonly opts: { readBufferSize?: number } = {}) {}

  get hostHeader(): string {
    return `${this.host}:${this.port}`;
  }

  connect(): Promise<void> {
    if (this.socket && !this.socket.destroyed && !this.connecting) return Promise.resolve();
    if (this.connecting) return this.connecting;
    this.leftover = null;
    this.completedOnSocket = 0;
    const size = this.opts.readBufferSize;
    const s = size
      ? net.connect({
          host: this.host,
          port: this.port,
          onread: {
            buffer: Buffer.allocUnsafe(size),
            callback: (n: number, buf: Uint8Array): boolean => {
              this.onData(Buffer.from(buf.buffer, buf.byteOffset, n), false);
              return true;
            },
          },
        })
      : net.connect({ host: this.host, port: this.port });
    s.setNoDelay(true);
    this.socket = s;
    this.connecting = new Promise<void>((resolve, reject) => {
      const onErr = (e: Error): void => {
        this.connecting = null;
        this.socket = null;
        reject(e);
      };
      s.once('error', onErr);
      s.once('connect', () => {
        s.off('error', onErr);
        this.connecting = null;
        if (!size) s.on('data', (d: Buffer) => this.onData(d, true));
        s.on('error', (e: Error) => this.fail(e));
        s.on('close', () => this.onClose(s));
        resolve();
      });
    });
    return this.connecting;
  }

  close(): void {
    const s = this.socket;
    this.socket = null;
    if (s) s.destroy();
  }

  /**
   * Sends one request and resolves with the response. If the request fails on
   * a reused keep-alive socket before any response byte arrived (the server
   * closed it while idle, e.g. Node's 5 s keepAliveTimeout), it is retried once
   * on a fresh connection, like ordinary HTTP clients do.
   */
  async request(req: RawRequest): Promise<RawResponse> {
    await this.connect();
    const reused = this.completedOnSocket > 0;
    try {
      return await this.send(req);
    } catch (e) {
      const p = e as Error & { gotBytes?: boolean };
      if (reused && !p.gotBytes) {
        this.close();
        await this.connect();
        return this.send(req);
      }
      throw e;
    }
  }

  /** Formats a request head; `bodyLength` is only used for methods that carry a body. */
  buildHead(req: RawRequest, bodyLength = 0): string {
    let head = `${req.method} ${req.path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
    if (req.headers) for (const [k, v] of Object.entries(req.headers)) head += `${k}: ${v}\r\n`;
    if (req.body !== undefined || req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH') {
      head += `Content-Length: ${bodyLength}\r\n`;
    }
    return head + '\r\n';
  }

  private send(req: RawRequest): Promise<RawResponse> {
    const s = this.socket;
    if (!s || s.destroyed) return Promise.reject(new Error('not connected'));
    if (this.cur) return Promise.reject(new Error('RawConn: request already in flight'));
    const bodies: Buffer[] = req.body === undefined ? [] : Array.isArray(req.body) ? req.body : [req.body];
    let len = 0;
    for (const b of bodies) len += b.length;
    const head = req.head ?? this.buildHead(req, len);

    return new Promise<RawResponse>((resolve, reject) => {
      const p: Pending = {
        req,
        resolve,
        reject,
        phase: 'head',
        status: 0,
        headers: new Map(),
        remaining: 0,
        chunks: [],
        bodyBytes: 0,
        gotBytes: false,
        closeAfter: false,
        timer: null,
      };
      const timeout = req.timeoutMs ?? 120_000;
      p.timer = setTimeout(() => {
        this.fail(new Error(`timeout after ${timeout} ms: ${req.method} ${req.path}`));
      }, timeout);
      this.cur = p;
      if (bodies.length === 0) {
        s.write(head);
      } else if (len <= 64 * 1024) {
        s.write(Buffer.concat([typeof head === 'string' ? Buffer.from(head, 'latin1') : head, ...bodies]));
      } else {
        s.write(head);
        void this.writeBodies(s, bodies);
      }
    });
  }

  // Large bodies: write buffer by buffer and honour backpressure so the client
  // never queues hundreds of MiB inside the socket.
  private async writeBodies(s: net.Socket, bodies: Buffer[]): Promise<void> {
    for (const b of bodies) {
      if (s.destroyed) return;
      if (!s.write(b)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            s.off('drain', done);
            s.off('close', done);
            resolve();
          };
          s.on('drain', done);
          s.on('close', done);
        });
      }
    }
  }

  private fail(e: Error): void {
    const p = this.cur;
    this.cur = null;
    const s = this.socket;
    this.socket = null;
    if (s) s.destroy();
    if (p) {
      if (p.timer) clearTimeout(p.timer);
      (e as Error & { gotBytes?: boolean }).gotBytes = p.gotBytes;
      p.reject(e);
    }
  }

  private onClose(s: net.Socket): void {
    if (this.socket === s) this.socket = null;
    const p = this.cur;
    if (!p) return;
    if (p.phase === 'close') {
      this.finish();
      return;
    }
    this.cur = null;
    if (p.timer) clearTimeout(p.timer);
    const e = new Error(`connection closed by server during ${p.req.method} ${p.req.path}`) as Error & {
      gotBytes?: boolean;
    };
    e.gotBytes = p.gotBytes;
    p.reject(e);
  }

  private deliver(p: Pending, chunk: Buffer, owned: boolean): void {
    p.bodyBytes += chunk.length;
    if (p.req.sink) p.req.sink(chunk);
    else p.chunks.push(owned ? chunk : Buffer.from(chunk));
  }

  private finish(): void {
    const p = this.cur;
    if (!p) return;
    this.cur = null;
    if (p.timer) clearTimeout(p.timer);
    this.completedOnSocket++;
    if (p.closeAfter) this.close();
    p.resolve({
      status: p.status,
      headers: p.headers,
      body: p.chunks.length <= 1 ? (p.chunks[0] ?? EMPTY) : Buffer.concat(p.chunks),
      bodyBytes: p.bodyBytes,
    });
  }

  private parseHead(p: Pending, text: string): void {
    const lines = text.split('\r\n');
    const statusLine = lines[0] ?? '';
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    p.status = Number(m[1]);
    p.headers = new Map();
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0) continue;
      const k = line.slice(0, c).trim().toLowerCase();
      const v = line.slice(c + 1).trim();
      const prev = p.headers.get(k);
      p.headers.set(k, prev === undefined ? v : `${prev}, ${v}`);
    }
    if (/^HTTP\/1\.0/.test(statusLine)) p.closeAfter = (p.headers.get('connection') ?? '').toLowerCase() !== 'keep-alive';
    if ((p.headers.get('connection') ?? '').toLowerCase().includes('close')) p.closeAfter = true;
  }

  /** owned: false when `d` is a view into the reused read buffer (copy anything kept). */
  private onData(d: Buffer, owned: boolean): void {
    let data = d;
    if (this.leftover) {
      data = Buffer.concat([this.leftover, d]);
      owned = true;
    }
    this.leftover = null;
    const keep = (b: Buffer): Buffer => (owned ? b : Buffer.from(b));
    try {
      while (data.length > 0) {
        const p = this.cur;
        if (!p) return; // stray bytes after a response: ignore
        p.gotBytes = true;
        switch (p.phase) {
          case 'head': {
            const idx = data.indexOf('\r\n\r\n');
            if (idx < 0) {
              if (data.length > 256 * 1024) throw new Error('response head too large');
              this.leftover = keep(data);
              return;
            }
            this.parseHead(p, data.toString('latin1', 0, idx));
            data = data.subarray(idx + 4);
            if (p.status >= 100 && p.status < 200) continue; // interim response, keep reading
            const te = (p.headers.get('transfer-encoding') ?? '').toLowerCase();
            const cl = p.headers.get('content-length');
            if (p.req.method === 'HEAD' || p.status === 204 || p.status === 304) {
              this.finish();
              return;
            } else if (te.includes('chunked')) {
              p.phase = 'chunk-size';
            } else if (cl !== undefined) {
              p.remaining = Number(cl);
              if (!Number.isFinite(p.remaining) || p.remaining < 0) throw new Error(`bad content-length ${cl}`);
              if (p.remaining === 0) {
                this.finish();
                return;
              }
              p.phase = 'body';
            } else {
              p.phase = 'close';
              p.closeAfter = true;
            }
            break;
          }
          case 'body':
          case 'chunk-data': {
            const n = Math.min(p.remaining, data.length);
            this.deliver(p, n === data.length ? data : data.subarray(0, n), owned);
            p.remaining -= n;
            data = data.subarray(n);
            if (p.remaining === 0) {
              if (p.phase === 'body') {
                this.finish();
                return;
              }
              p.phase = 'chunk-crlf';
            }
            break;
          }
          case 'chunk-crlf': {
            if (data.length < 2) {
              this.leftover = keep(data);
              return;
            }
            data = data.subarray(2);
            p.phase = 'chunk-size';
            break;
          }
          case 'chunk-size': {
            const idx = data.indexOf('\r\n');
            if (idx < 0) {
              this.leftover = keep(data);
              return;
            }
            const sizeText = (data.toString('latin1', 0, idx).split(';')[0] ?? '').trim();
            const size = parseInt(sizeText, 16);
            if (!Number.isFinite(size)) throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`);
            data = data.subarray(idx + 2);
            if (size === 0) p.phase = 'trailers';
            else {
              p.remaining = size;
              p.phase = 'chunk-data';
            }
            break;
          }
          case 'trailers': {
            const idx = data.indexOf('\r\n');
            if (idx < 0) {
              this.leftover = keep(data);
              return;
            }
            data = data.subarray(idx + 2);
            if (idx === 0) {
              this.finish();
              return;
            }
            break;
          }
          case 'close': {
            this.deliver(p, data, owned);
            data = EMPTY;
            break;
          }
        }
      }
    } catch (e) {
      this.fail(e as Error);
    }
  }
}

/** Turns a Location / Link target (absolute URL or path) into path+query on the same server. */
export function toPath(location: string, base: string): string {
  const u = new URL(location, base);
  const b = new URL(base);
  if (u.host !== b.host) throw new Error(`redirect to another host is not supported by the benchmark: ${location}`);
  return u.pathname + u.search;
}

/** Extracts the rel="next" target of a Link header, if any. */
export function nextLink(link: string | undefined): string | null {
  if (!link) return null;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /<([^>]*)>\s*(.*)$/.exec(part.trim());
    if (m?.[1] !== undefined && /rel="?next"?/i.test(m[2] ?? '')) return m[1];
  }
  return null;
}

/** Appends a query parameter to a path that may already have a query. */
export function addQuery(path: string, key: string, value: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
}
