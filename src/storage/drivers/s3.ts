import { randomUUID } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type ObjectCannedACL,
  type S3ClientConfig,
  type ServerSideEncryption,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { PathNotFoundError, SizeMismatchError, StorageUnavailableError, type AppendOptions, type FileInfo, type ReadOptions, type StorageDriver } from '../driver.js';

/*
 * Bucket layout. `R` is storage.s3.rootdirectory ("" or "some/prefix/").
 *
 *   <bucket>/
 *   └── R
 *       ├── blobs/…, uploads/…          one key per driver path (the path without its leading "/")
 *       └── ~append/<path>/             an object still being appended to (an upload in progress):
 *           ├── state-<uuid>.json       committed state: multipart upload id, its whole parts, size
 *           └── tail-<uuid>             bytes after the last whole part (< chunksize)
 *
 * `~` is outside the driver's path grammar, so no driver path maps into
 * `~append/`, and `list` never shows it.
 *
 * Appends. The general case streams whole parts of `chunksize` bytes into an
 * S3 multipart upload whose key is the object's own key; what is left at the
 * end becomes one more part when S3 accepts it as one (at least 5 MiB), else
 * a tail object. Only when every part and the tail are stored does the
 * append write a new state object (a fresh key, then the old one is
 * deleted), so the state object is the commit point:
 *   - a failed or aborted append leaves the previous state in force; its
 *     stray parts are overwritten by the next append or left out when the
 *     multipart upload is completed;
 *   - any instance can continue an append started by another, since all the
 *     state is in the bucket (a chunked upload spans instances).
 * Shortcuts, from the caller's hints (AppendOptions):
 *   - a first append with a known length, marked final (a monolithic
 *     upload), is streamed into one PutObject: no multipart upload at all;
 *   - a chunk with a known length of at least 5 MiB, with no tail pending, is
 *     streamed into one part as it arrives, without buffering;
 *   - a final append completes the multipart upload itself (or, with no
 *     whole part, puts the object in one request), so no state is written;
 *   - the state an instance committed last is remembered, and trusted while
 *     the caller's size (its upload session's) still matches it.
 * `finish`, `move` and `reader` first "materialize" an object still being
 * appended to: the tail becomes the last part and the multipart upload is
 * completed (or, with no whole part yet, the tail is copied to the key).
 */

const MiB = 1024 * 1024;
/** S3's smallest part, except the last. */
export const MIN_PART_BYTES = 5 * MiB;
/** S3's largest single-request copy; bigger objects are copied in parts. */
const MAX_SINGLE_COPY_BYTES = 5 * 1024 * MiB;
/** S3's largest PutObject, and its largest part. */
const MAX_PUT_BYTES = 5 * 1024 * MiB;
const MAX_PART_BYTES = 5 * 1024 * MiB;
/**
 * Bytes a streamed request body may read ahead of the store. More does not
 * go faster (measured), and bigger buffers mean more garbage collection.
 */
const STREAM_BUFFER_BYTES = 64 * 1024;
/** Append states remembered per driver (one per upload in progress here). */
const MAX_CACHED_STATES = 1000;
const APPEND_DIR = '~append';
const NAME_RE = /^[A-Za-z0-9._-]+$/;

export interface S3DriverOptions {
  bucket: string;
  region: string;
  /** Endpoint URL of an S3-compatible store (MinIO, Ceph RGW); AWS when undefined. */
  endpoint?: string | undefined;
  /** Key prefix inside the bucket, without leading or trailing "/" ("" for the bucket root). */
  rootDirectory?: string | undefined;
  /** Static credentials; the AWS default credential chain when undefined. */
  accessKey?: string | undefined;
  secretKey?: string | undefined;
  sessionToken?: string | undefined;
  forcePathStyle?: boolean | undefined;
  /** Part size of multipart uploads (at least 5 MiB). */
  chunkSize?: number | undefined;
  /** Server-side encryption: AES256, or aws:kms when keyId is set. */
  encrypt?: boolean | undefined;
  keyId?: string | undefined;
  /** Do not verify the endpoint's TLS certificate (test setups only). */
  skipVerify?: boolean | undefined;
  storageClass?: string | undefined;
  objectAcl?: string | undefined;
  /** Objects at least this big are copied in parallel parts. */
  multipartCopyThresholdSize?: number | undefined;
  multipartCopyChunkSize?: number | undefined;
  multipartCopyMaxConcurrency?: number | undefined;
  /** Whole parts one append may have in flight at once (memory: this × chunkSize). */
  partConcurrency?: number | undefined;
  /** HTTP connections to the store. */
  maxSockets?: number | undefined;
  userAgent?: string | undefined;
}

interface Part {
  /** PartNumber */
  n: number;
  etag: string;
  size: number;
}

interface AppendState {
  v: 1;
  size: number;
  uploadId: string | null;
  parts: Part[];
  /** Name of the tail object (under the append folder) and its size. */
  tail: { name: string; size: number } | null;
  modified: number;
  /** Key of this state object (not stored; set when loaded). */
  key?: string;
}

const SILENT_LOGGER = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function errorName(err: unknown): string {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name ?? e?.Code ?? '';
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

/** The store does not implement the request (s3rver lacks part copies and upload listings). */
function isNotImplemented(err: unknown): boolean {
  return errorName(err) === 'NotImplemented' || httpStatus(err) === 501;
}

function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload' || httpStatus(err) === 404;
}

/**
 * A failure of the store itself (unreachable, 5xx, throttled, timed out)
 * becomes StorageUnavailableError; a client-side mistake stays as it is.
 */
function classify(err: unknown, what: string): unknown {
  if (err instanceof PathNotFoundError || err instanceof StorageUnavailableError) return err;
  const status = httpStatus(err);
  const name = errorName(err);
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const network = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET'].includes(code)
    || name === 'TimeoutError' || name === 'RequestTimeout' || /socket hang up|ECONNREFUSED|ECONNRESET/.test(String((err as Error | null)?.message));
  if (network || (status !== undefined && status !== 501 && (status >= 500 || status === 429)) || name === 'SlowDown' || name === 'ServiceUnavailable' || name === 'InternalError') {
    const detail = status !== undefined ? `HTTP ${status} ${name}` : (code || name || 'no answer');
    return new StorageUnavailableError(`the object store failed to ${what} (${detail})`, { cause: err });
  }
  return err;
}

/** An append state object's body, or null when it is not one whole state (a cut write). */
function parseState(body: Buffer): AppendState | null {
  let s: unknown;
  try {
    s = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  const state = s as Partial<AppendState> | null;
  if (state?.v !== 1 || typeof state.size !== 'number' || typeof state.modified !== 'number' || !Array.isArray(state.parts)) return null;
  return state as AppendState;
}

/** An S3 (or S3-compatible) bucket as a storage driver. */
export class S3Driver implements StorageDriver {
  readonly name = 's3';
  /** CopyObject: the store writes the bytes again. */
  readonly copiesOnMove = true;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly chunkSize: number;
  private readonly partConcurrency: number;
  private readonly copyThreshold: number;
  private readonly copyChunk: number;
  private readonly copyConcurrency: number;
  /** Append states this instance committed last, by path (see append's currentSize). */
  private readonly states = new Map<string, AppendState>();
  /** False once the store answered a part copy with NotImplemented. */
  private partCopy = true;
  /** False once the store answered an upload listing with NotImplemented. */
  private uploadListing = true;
  private readonly writeParams: { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string; StorageClass?: StorageClass; ACL?: ObjectCannedACL };

  constructor(private readonly options: S3DriverOptions) {
    this.bucket = options.bucket;
    const root = (options.rootDirectory ?? '').replace(/^\/+|\/+$/g, '');
    this.prefix = root ? `${root}/` : '';
    this.chunkSize = Math.max(options.chunkSize ?? 10 * MiB, MIN_PART_BYTES);
    this.partConcurrency = Math.max(options.partConcurrency ?? 2, 1);
    this.copyThreshold = options.multipartCopyThresholdSize ?? 32 * MiB;
    this.copyChunk = Math.max(options.multipartCopyChunkSize ?? 32 * MiB, MIN_PART_BYTES);
    this.copyConcurrency = Math.max(options.multipartCopyMaxConcurrency ?? 16, 1);
    this.writeParams = {};
    if (options.encrypt) {
      this.writeParams.ServerSideEncryption = options.keyId ? 'aws:kms' : 'AES256';
      if (options.keyId) this.writeParams.SSEKMSKeyId = options.keyId;
    }
    if (options.storageClass && options.storageClass !== 'NONE') this.writeParams.StorageClass = options.storageClass as StorageClass;
    if (options.objectAcl) this.writeParams.ACL = options.objectAcl as ObjectCannedACL;

    const maxSockets = options.maxSockets ?? 128;
    const config: S3ClientConfig = {
      region: options.region,
      // The SDK writes some warnings to the console unless given a logger;
      // Berth reports every failure itself (classify, the request log).
      logger: SILENT_LOGGER,
      forcePathStyle: options.forcePathStyle ?? false,
      // Berth verifies every blob's digest itself; the SDK's extra CRC
      // checksums cost CPU and are refused by some S3-compatible stores.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets, rejectUnauthorized: !options.skipVerify }),
        connectionTimeout: 10_000,
        requestTimeout: 300_000,
      },
    };
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.accessKey && options.secretKey) {
      config.credentials = { accessKeyId: options.accessKey, secretAccessKey: options.secretKey, ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}) };
    }
    if (options.userAgent) config.customUserAgent = options.userAgent;
    this.client = new S3Client(config);
  }

  // ---- keys ----------------------------------------------------------------

  private key(path: string): string {
    return this.prefix + path.slice(1);
  }

  /** Folder (with trailing "/") holding an appendable object's state and tails. */
  private appendDir(path: string): string {
    return `${this.prefix}${APPEND_DIR}${path}/`;
  }

  private async send<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw classify(err, what);
    }
  }

  // ---- lifecycle -----------------------------------------------------------

  async init(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const where = `${this.options.endpoint ?? `AWS S3 (${this.options.region})`}`;
      if (isNotFound(err)) throw new Error(`storage.s3.bucket: the bucket ${JSON.stringify(this.bucket)} does not exist at ${where}; create it first`);
      const status = httpStatus(err);
      if (status === 403) throw new Error(`storage.s3: access to the bucket ${JSON.stringify(this.bucket)} at ${where} is denied; check accesskey/secretkey or the credential chain`);
      const mapped = classify(err, `reach the bucket ${JSON.stringify(this.bucket)} at ${where}`);
      throw mapped instanceof StorageUnavailableError ? mapped : err;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  // ---- append state --------------------------------------------------------

  /** The committed append state of `path`, or null when none is in progress. */
  private async loadState(path: string): Promise<AppendState | null> {
    const keys = await this.listKeys(this.appendDir(path), false);
    const stateKeys = keys.filter((k) => /\/state-[^/]+\.json$/.test(k.key));
    if (stateKeys.length === 0) return null;
    // Normally one; two only for an instant while an append commits. The
    // newest committed one wins (a crash may leave an older one behind).
    let best: AppendState | null = null;
    for (const k of stateKeys) {
      let body: Buffer;
      try {
        body = await this.getBytes(k.key);
      } catch (err) {
        if (err instanceof PathNotFoundError) continue; // replaced meanwhile
        throw err;
      }
      const s = parseState(body);
      // A state whose write never completed: s3rver keeps the bytes of a
      // request cut mid-body (a process killed while writing it) under its
      // key. That append never returned, so the state was never committed.
      if (!s) continue;
      if (!best || s.modified > best.modified || (s.modified === best.modified && s.size > best.size)) best = { ...s, key: k.key };
    }
    return best;
  }

  private async writeState(path: string, state: AppendState): Promise<string> {
    const key = `${this.appendDir(path)}state-${Date.now().toString(36).padStart(9, '0')}-${randomUUID()}.json`;
    const { key: _omit, ...stored } = state;
    await this.send('write an upload\'s state', () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: JSON.stringify(stored), ContentType: 'application/json' })));
    return key;
  }

  // ---- reads -----------------------------------------------------------------

  private async head(key: string): Promise<{ size: number; modifiedAt: Date } | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: r.ContentLength ?? 0, modifiedAt: r.LastModified ?? new Date(0) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw classify(err, 'stat an object');
    }
  }

  private async getBytes(key: string, path = `/${key}`): Promise<Buffer> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!r.Body) throw new Error('GetObject answered without a body');
      return Buffer.from(await r.Body.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      throw classify(err, 'read an object');
    }
  }

  async stat(path: string): Promise<FileInfo | null> {
    const [state, plain] = await Promise.all([this.loadState(path), this.head(this.key(path))]);
    if (state) return { path, size: state.size, modifiedAt: new Date(state.modified) };
    return plain ? { path, ...plain } : null;
  }

  async reader(path: string, options: ReadOptions = {}): Promise<Readable> {
    await this.materialize(path);
    const start = options.offset ?? 0;
    const key = this.key(path);
    if (options.length === 0) {
      if (!(await this.head(key))) throw new PathNotFoundError(path);
      return Readable.from([]);
    }
    const range = options.length !== undefined ? `bytes=${start}-${start + options.length - 1}` : start > 0 ? `bytes=${start}-` : undefined;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: range } : {}) }), options.signal ? { abortSignal: options.signal } : {});
      const body = r.Body as Readable;
      if (options.expectedSize !== undefined) {
        const total = range ? Number(/\/(\d+)$/.exec(r.ContentRange ?? '')?.[1] ?? Number.NaN) : r.ContentLength;
        if (total !== undefined && Number.isSafeInteger(total) && total !== options.expectedSize) {
          body.destroy();
          throw new SizeMismatchError(path, options.expectedSize, total);
        }
      }
      if (options.signal) {
        const signal = options.signal;
        const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
        body.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      return body;
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      if (errorName(err) === 'InvalidRange' || httpStatus(err) === 416) return Readable.from([]); // reading from the very end
      throw classify(err, 'read an object');
    }
  }

  async getContent(path: string): Promise<Buffer> {
    await this.materialize(path);
    return this.getBytes(this.key(path), path);
  }

  // ---- writes ----------------------------------------------------------------

  async putContent(path: string, content: Uint8Array): Promise<void> {
    await this.send('write an object', () => this.client.send(new PutObjectCommand({
      Bucket: this.bucket, Key: this.key(path), Body: content, ContentLength: content.byteLength, ...this.writeParams,
    })));
    // A plain put replaces whatever an unfinished append had gathered.
    await this.discardAppend(path);
  }

  async append(path: string, source: AsyncIterable<Uint8Array>, options: AppendOptions = {}): Promise<number> {
    const { signal, expectedBytes, final = false } = options;
    // The state this instance wrote last is current if the caller's size says
    // so (sizes only grow): no need to list and read it back from the bucket.
    const cached = this.states.get(path);
    const [previous, plain] = cached && cached.size === options.currentSize
      ? [cached, null]
      : await Promise.all([this.loadState(path), this.head(this.key(path))]);
    this.states.delete(path);
    // An object that is already whole (finished) is continued by re-reading
    // it first: rare, registries finish an object only after its last chunk.
    const whole = previous ? 0 : plain?.size ?? 0;
    const state: AppendState = previous
      ? { ...previous, parts: [...previous.parts] }
      : { v: 1, size: 0, uploadId: null, parts: [], tail: null, modified: Date.now() };
    // With the length known and nothing left over from before, the bytes go
    // on to the store as they arrive, in one sized request: the whole object
    // (a monolithic upload) or one part (a chunk of at least 5 MiB).
    if (expectedBytes !== undefined && expectedBytes > 0 && whole === 0 && !state.tail) {
      if (!previous && final && expectedBytes <= MAX_PUT_BYTES) return this.appendAsObject(path, source, expectedBytes, plain !== null, signal);
      if (expectedBytes >= MIN_PART_BYTES && expectedBytes <= MAX_PART_BYTES) return this.appendAsPart(path, state, previous, source, expectedBytes, final, signal);
    }
    return this.appendBuffered(path, state, previous, whole, source, final, signal);
  }

  /**
   * Sends `source` (exactly `length` bytes) as the body of one request. The
   * SDK pipes a stream body into its request without watching the stream,
   * so a failing source (a client that went away) aborts the request here,
   * and its error, not the abort, is what the caller sees.
   */
  private async sendStream<T>(what: string, source: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined, request: (body: Readable, abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    let sourceError: unknown = null;
    const onAbort = () => ac.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const body = Readable.from(source, { objectMode: false, highWaterMark: STREAM_BUFFER_BYTES });
    body.on('error', (err) => {
      sourceError = err;
      ac.abort(err);
    });
    try {
      return await request(body, ac.signal);
    } catch (err) {
      if (sourceError) throw sourceError;
      signal?.throwIfAborted();
      throw classify(err, what);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      body.destroy();
    }
  }

  /** The whole object in one PutObject, streamed (a monolithic upload). */
  private async appendAsObject(path: string, source: AsyncIterable<Uint8Array>, length: number, replacesEmpty: boolean, signal: AbortSignal | undefined): Promise<number> {
    const key = this.key(path);
    try {
      await this.sendStream('write an object', source, signal, (body, abortSignal) => this.client.send(new PutObjectCommand({
        Bucket: this.bucket, Key: key, Body: body, ContentLength: length, ContentType: 'application/octet-stream', ...this.writeParams,
      }), { abortSignal }));
    } catch (err) {
      // Real stores create nothing from a failed PutObject; s3rver may have
      // written part of it in place, and may finish writing it after our
      // delete (it handles the aborted request on its own time). Delete
      // until the key stays gone, then put the object back as it was.
      for (let attempt = 0; attempt < 6; attempt++) {
        await this.deleteKeys([key]).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
        if ((await this.stat(path).catch(() => null)) === null) break;
      }
      if (replacesEmpty) await this.putContent(path, new Uint8Array(0)).catch(() => undefined);
      throw err;
    }
    return length;
  }

  /** One chunk (exactly `length` bytes, within S3's part sizes) as one part, streamed. */
  private async appendAsPart(path: string, state: AppendState, previous: AppendState | null, source: AsyncIterable<Uint8Array>, length: number, final: boolean, signal: AbortSignal | undefined): Promise<number> {
    const key = this.key(path);
    let createdUpload: string | null = null;
    try {
      if (state.uploadId === null) state.uploadId = createdUpload = await this.createMultipart(key);
      const uploadId = state.uploadId;
      const n = (state.parts.at(-1)?.n ?? 0) + 1;
      const r = await this.sendStream('store a part', source, signal, (body, abortSignal) => this.client.send(new UploadPartCommand({
        Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: length,
      }), { abortSignal }));
      state.parts.push({ n, etag: r.ETag ?? '', size: length });
      state.size += length;
    } catch (err) {
      if (createdUpload) await this.abortMultipart(key, createdUpload);
      throw classify(err, 'append to an object');
    }
    return this.commitAppend(path, state, previous, null, final);
  }

  /**
   * The general case: whole parts of `chunksize` go out as they fill (up to
   * `partConcurrency` in flight); what is left at the end becomes one more
   * part when S3 accepts it as one (at least 5 MiB, or the last part of a
   * final append), else the tail object.
   */
  private async appendBuffered(path: string, state: AppendState, previous: AppendState | null, whole: number, source: AsyncIterable<Uint8Array>, final: boolean, signal: AbortSignal | undefined): Promise<number> {
    const key = this.key(path);
    const dir = this.appendDir(path);
    /** Bytes not yet in a whole part: the previous tail, then new data. */
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let received = 0;
    const inflight = new Set<Promise<void>>();
    let failure: unknown = null;
    let nextPart = (state.parts.at(-1)?.n ?? 0) + 1;
    const newParts: Part[] = [];
    let createdUpload: string | null = null;
    const shipPart = async (body: Buffer, uploadId: string, n: number) => {
      const r = await this.send('store a part', () => this.client.send(new UploadPartCommand({
        Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.length,
      }), signal ? { abortSignal: signal } : {}));
      newParts.push({ n, etag: r.ETag ?? '', size: body.length });
    };
    const startPart = async (body: Buffer) => {
      if (state.uploadId === null) state.uploadId = createdUpload = await this.createMultipart(key);
      const t: Promise<void> = shipPart(body, state.uploadId, nextPart++)
        .catch((err) => { failure ??= err; })
        .finally(() => inflight.delete(t));
      inflight.add(t);
      while (inflight.size >= this.partConcurrency) await Promise.race(inflight);
      if (failure) throw failure;
    };
    const feed = async (chunk: Uint8Array) => {
      pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      pendingBytes += chunk.byteLength;
      while (pendingBytes >= this.chunkSize) {
        const all = Buffer.concat(pending, pendingBytes);
        const rest = all.subarray(this.chunkSize);
        pending = rest.length ? [rest] : [];
        pendingBytes = rest.length;
        await startPart(all.subarray(0, this.chunkSize));
      }
    };
    let newTail: string | null = null;
    try {
      if (previous?.tail) await feed(await this.getBytes(dir + previous.tail.name));
      for await (const chunk of source) {
        signal?.throwIfAborted();
        if (failure) throw failure;
        if (chunk.byteLength === 0) continue;
        if (received === 0 && whole > 0) {
          for await (const c of await this.reader(path)) await feed(c as Uint8Array);
          state.size = whole;
        }
        received += chunk.byteLength;
        await feed(chunk);
      }
      signal?.throwIfAborted();
      // Nothing new: nothing changes, unless a final append must finish what earlier appends gathered.
      if (received === 0 && (!final || !previous)) {
        await Promise.all(inflight);
        if (failure) throw failure;
        if (!previous && whole === 0 && !(await this.head(key))) await this.putContent(path, new Uint8Array(0));
        return previous ? previous.size : whole;
      }
      const rest = pendingBytes > 0 ? Buffer.concat(pending, pendingBytes) : null;
      if (final && state.uploadId === null && state.parts.length === 0 && inflight.size === 0) {
        // All of it fits one request: the object is written whole, no multipart upload at all.
        await this.send('write an object', () => this.client.send(new PutObjectCommand({
          Bucket: this.bucket, Key: key, Body: rest ?? new Uint8Array(0), ContentLength: rest?.length ?? 0, ContentType: 'application/octet-stream', ...this.writeParams,
        }), signal ? { abortSignal: signal } : {}));
        state.size += received;
        // The plain object replaces what earlier appends gathered (their tail only: no multipart upload yet).
        if (previous) await this.deleteUnder(dir).catch(() => undefined);
        return state.size;
      }
      if (rest && (final || rest.length >= MIN_PART_BYTES)) {
        await startPart(rest);
      } else if (rest) {
        const name = `tail-${randomUUID()}`;
        await this.send('store an upload\'s tail', () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: dir + name, Body: rest, ContentLength: rest.length })));
        newTail = name;
      }
      await Promise.all(inflight);
      if (failure) throw failure;
      signal?.throwIfAborted();
    } catch (err) {
      await Promise.allSettled(inflight);
      if (newTail) await this.deleteKeys([dir + newTail]).catch(() => undefined);
      if (createdUpload) await this.abortMultipart(key, createdUpload);
      throw classify(err, 'append to an object');
    }
    newParts.sort((a, b) => a.n - b.n);
    state.parts.push(...newParts);
    state.size += received;
    return this.commitAppend(path, state, previous, newTail ? { name: newTail, size: pendingBytes } : null, final);
  }

  /**
   * Commits an append whose parts are all stored: with `final`, completes
   * the multipart upload (the object becomes plain); otherwise writes the new
   * state object, the commit point. Then removes what the new state replaced.
   */
  private async commitAppend(path: string, state: AppendState, previous: AppendState | null, tail: { name: string; size: number } | null, final: boolean): Promise<number> {
    const key = this.key(path);
    const dir = this.appendDir(path);
    state.tail = tail;
    state.modified = Math.max(Date.now(), (previous?.modified ?? 0) + 1);
    if (final && !tail && state.uploadId) {
      try {
        await this.completeMultipart(key, state.uploadId, state.parts);
      } catch (err) {
        // The previous state stays in force (its parts are still in the upload).
        if (!previous?.uploadId) await this.abortMultipart(key, state.uploadId);
        throw classify(err, 'complete a multipart upload');
      }
      await this.deleteUnder(dir).catch(() => undefined);
      return state.size;
    }
    try {
      state.key = await this.writeState(path, state);
    } catch (err) {
      if (tail) await this.deleteKeys([dir + tail.name]).catch(() => undefined);
      if (state.uploadId && !previous?.uploadId) await this.abortMultipart(key, state.uploadId);
      throw err;
    }
    // Committed. Remove what the new state replaced (best effort: a leftover is
    // ignored by loadState and removed with the object).
    this.rememberState(path, state);
    const stale: string[] = [];
    if (previous?.key) stale.push(previous.key);
    if (previous?.tail) stale.push(dir + previous.tail.name);
    // Not awaited: the client need not wait for housekeeping.
    if (stale.length) void this.deleteKeys(stale).catch(() => undefined);
    return state.size;
  }

  /** Keeps the state this instance just committed for `path` (bounded; oldest dropped first). */
  private rememberState(path: string, state: AppendState): void {
    this.states.set(path, state);
    if (this.states.size > MAX_CACHED_STATES) {
      const oldest = this.states.keys().next().value;
      if (oldest !== undefined) this.states.delete(oldest);
    }
  }

  /** Aborts a multipart upload, best effort (a leftover is aborted by delete or the bucket's lifecycle rule). */
  private async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
  }

  private async completeMultipart(key: string, uploadId: string, parts: Part[]): Promise<void> {
    await this.client.send(new CompleteMultipartUploadCommand({
      Bucket: this.bucket, Key: key, UploadId: uploadId,
      MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.n, ETag: p.etag })) },
    }));
  }

  async finish(path: string): Promise<number> {
    await this.materialize(path);
    const info = await this.head(this.key(path));
    if (!info) throw new PathNotFoundError(path);
    return info.size;
  }

  private async createMultipart(key: string): Promise<string> {
    const r = await this.send('start a multipart upload', () => this.client.send(new CreateMultipartUploadCommand({
      Bucket: this.bucket, Key: key, ContentType: 'application/octet-stream', ...this.writeParams,
    })));
    if (!r.UploadId) throw new StorageUnavailableError('the object store returned no multipart upload id');
    return r.UploadId;
  }

  /** Server-side copy of one object (up to 5 GiB), replacing `toKey` atomically. */
  private async copyObject(fromKey: string, toKey: string): Promise<void> {
    await this.send('copy an object', () => this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: toKey, CopySource: this.copySource(fromKey), ...this.writeParams })));
  }

  private copySource(key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /**
   * Turns an appended object into a plain one at its key: the tail becomes
   * the last part and the multipart upload is completed. No-op for a plain
   * object. Safe if two callers race: the loser finds the object complete.
   */
  private async materialize(path: string): Promise<void> {
    this.states.delete(path);
    const state = await this.loadState(path);
    if (!state) return;
    const key = this.key(path);
    const dir = this.appendDir(path);
    if (state.uploadId === null) {
      // No whole part yet: the tail (or nothing) is the object.
      if (state.tail) {
        await this.copyObject(dir + state.tail.name, key);
      } else {
        await this.send('write an object', () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: new Uint8Array(0), ContentLength: 0, ...this.writeParams })));
      }
    } else {
      const parts = [...state.parts];
      const uploadId = state.uploadId;
      if (state.tail) {
        const body = await this.getBytes(dir + state.tail.name);
        const n = (parts.at(-1)?.n ?? 0) + 1;
        const r = await this.send('store a part', () => this.client.send(new UploadPartCommand({
          Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.length,
        })));
        parts.push({ n, etag: r.ETag ?? '', size: body.length });
      }
      try {
        await this.completeMultipart(key, uploadId, parts);
      } catch (err) {
        // Another caller completed it first: the object is whole already.
        if (!(isNotFound(err) && (await this.head(key))?.size === state.size)) throw classify(err, 'complete a multipart upload');
      }
    }
    await this.deleteUnder(dir);
  }

  async move(from: string, to: string): Promise<void> {
    await this.materialize(from);
    const fromKey = this.key(from);
    const info = await this.head(fromKey);
    if (!info) throw new PathNotFoundError(from);
    const toKey = this.key(to);
    if (info.size > MAX_SINGLE_COPY_BYTES || (info.size >= this.copyThreshold && this.partCopy)) {
      await this.copyInParts(fromKey, toKey, info.size);
    } else {
      await this.copyObject(fromKey, toKey);
    }
    await this.deleteKeys([fromKey]);
    await this.discardAppend(to);
  }

  /** Server-side copy in parallel ranges (objects over 5 GiB must be copied so). */
  private async copyInParts(fromKey: string, toKey: string, size: number): Promise<void> {
    const uploadId = await this.createMultipart(toKey);
    try {
      const ranges: Array<{ n: number; start: number; end: number }> = [];
      for (let start = 0, n = 1; start < size; start += this.copyChunk, n++) ranges.push({ n, start, end: Math.min(start + this.copyChunk, size) - 1 });
      const parts: Array<{ PartNumber: number; ETag: string }> = [];
      // One iterator shared by the workers: each range is taken once.
      const queue = ranges.values();
      const worker = async () => {
        for (const r of queue) {
          const out = await this.send('copy a part', () => this.client.send(new UploadPartCopyCommand({
            Bucket: this.bucket, Key: toKey, UploadId: uploadId, PartNumber: r.n, CopySource: this.copySource(fromKey), CopySourceRange: `bytes=${r.start}-${r.end}`,
          })));
          parts.push({ PartNumber: r.n, ETag: out.CopyPartResult?.ETag ?? '' });
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.copyConcurrency, ranges.length) }, worker));
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.send('complete a multipart copy', () => this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: toKey, UploadId: uploadId, MultipartUpload: { Parts: parts } })));
    } catch (err) {
      await this.abortMultipart(toKey, uploadId);
      if (isNotImplemented(err) && size <= MAX_SINGLE_COPY_BYTES) {
        // The store has no part copies (s3rver): a single copy still works.
        this.partCopy = false;
        await this.copyObject(fromKey, toKey);
        return;
      }
      throw classify(err, 'copy an object');
    }
  }

  async delete(path: string): Promise<boolean> {
    for (const p of this.states.keys()) if (p === path || p.startsWith(`${path}/`)) this.states.delete(p);
    const key = this.key(path);
    const under = (k: string, base: string) => k === base || k.startsWith(`${base}/`);
    const keys = (await this.listKeys(key, false)).map((k) => k.key).filter((k) => under(k, key));
    const appendBase = this.appendDir(path).slice(0, -1);
    const appendKeys = (await this.listKeys(appendBase, false)).map((k) => k.key).filter((k) => under(k, appendBase));
    // Unfinished appends at or below `path`: abort their multipart uploads.
    let aborted = 0;
    for (const stateKey of appendKeys.filter((k) => /\/state-[^/]+\.json$/.test(k))) {
      const objectKey = this.prefix + stateKey.slice(`${this.prefix}${APPEND_DIR}/`.length).replace(/\/state-[^/]+\.json$/, '');
      let state: AppendState;
      try {
        state = JSON.parse((await this.getBytes(stateKey)).toString('utf8')) as AppendState;
      } catch (err) {
        if (err instanceof PathNotFoundError) continue;
        throw err;
      }
      if (!state.uploadId) continue;
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: state.uploadId })).catch((err) => {
        if (!isNotFound(err)) throw classify(err, 'abort a multipart upload');
      });
      aborted++;
    }
    aborted += await this.abortMultipartsUnder(key);
    await this.deleteKeys([...keys, ...appendKeys]);
    return keys.length > 0 || appendKeys.length > 0 || aborted > 0;
  }

  async deleteMany(paths: readonly string[]): Promise<void> {
    for (const p of paths) this.states.delete(p);
    await this.deleteKeys(paths.map((p) => this.key(p)));
  }

  /** Drops an unfinished append of `path` (its multipart upload, state and tail). */
  private async discardAppend(path: string): Promise<void> {
    this.states.delete(path);
    const dir = this.appendDir(path);
    const keys = await this.listKeys(dir, false);
    if (keys.length === 0) return;
    const state = await this.loadState(path);
    if (state?.uploadId) {
      await this.abortMultipart(this.key(path), state.uploadId);
    }
    await this.deleteUnder(dir);
  }

  private async deleteUnder(prefix: string): Promise<void> {
    await this.deleteKeys((await this.listKeys(prefix, false)).map((k) => k.key));
  }

  /**
   * Aborts multipart uploads under `key`, including one an append created
   * but never committed (a crash between the two). Stores without upload
   * listings rely on a bucket lifecycle rule for those (see the README).
   */
  private async abortMultipartsUnder(key: string): Promise<number> {
    let aborted = 0;
    if (!this.uploadListing) return 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let r;
      try {
        r = await this.client.send(new ListMultipartUploadsCommand({
          Bucket: this.bucket, Prefix: key, ...(keyMarker ? { KeyMarker: keyMarker } : {}), ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        }));
      } catch (err) {
        if (isNotImplemented(err)) {
          this.uploadListing = false;
          return aborted;
        }
        throw classify(err, 'list multipart uploads');
      }
      for (const { Key: uploadKey, UploadId: uploadId } of r.Uploads ?? []) {
        if (!uploadKey || !uploadId || !(uploadKey === key || uploadKey.startsWith(`${key}/`))) continue;
        await this.send('abort a multipart upload', () => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: uploadKey, UploadId: uploadId }))).catch((err) => {
          if (!isNotFound(err)) throw err;
        });
        aborted++;
      }
      if (!r.IsTruncated) return aborted;
      keyMarker = r.NextKeyMarker;
      uploadIdMarker = r.NextUploadIdMarker;
    }
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const r = await this.send('delete objects', () => this.client.send(new DeleteObjectsCommand({
        Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      })));
      const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length) throw new StorageUnavailableError(`the object store failed to delete ${failed.length} objects (${failed[0]?.Code ?? 'error'}: ${failed[0]?.Message ?? ''})`);
    }
  }

  // ---- listing ---------------------------------------------------------------

  /** Keys under a prefix, all levels (delimited: only direct children and common prefixes). */
  private async listKeys(prefix: string, delimited: boolean): Promise<Array<{ key: string; folder: boolean }>> {
    const out: Array<{ key: string; folder: boolean }> = [];
    let token: string | undefined;
    do {
      const r = await this.send('list objects', () => this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket, Prefix: prefix, ...(delimited ? { Delimiter: '/' } : {}), ...(token ? { ContinuationToken: token } : {}),
      })));
      for (const c of r.Contents ?? []) if (c.Key) out.push({ key: c.Key, folder: false });
      for (const p of r.CommonPrefixes ?? []) if (p.Prefix) out.push({ key: p.Prefix, folder: true });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async list(path: string): Promise<string[]> {
    const base = path === '/' ? this.prefix : `${this.key(path)}/`;
    const appendBase = path === '/' ? `${this.prefix}${APPEND_DIR}/` : this.appendDir(path);
    const [plain, appending] = await Promise.all([this.listKeys(base, true), this.listKeys(appendBase, true)]);
    const names = new Set<string>();
    for (const k of plain) names.add(k.key.slice(base.length).replace(/\/$/, ''));
    // An object being appended shows as its own name; its state folder's
    // parents show as folders.
    for (const k of appending) if (k.folder) names.add(k.key.slice(appendBase.length).replace(/\/$/, ''));
    return [...names].filter((n) => NAME_RE.test(n)).sort();
  }

  async redirectUrl(path: string, options: { method: 'GET' | 'HEAD'; expiresInSeconds: number }): Promise<string | null> {
    const input = { Bucket: this.bucket, Key: this.key(path) };
    const command = options.method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    return getSignedUrl(this.client, command, { expiresIn: options.expiresInSeconds });
  }
}

export function createS3Driver(options: S3DriverOptions): StorageDriver {
  return new S3Driver(options);
}
