import { generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { generateEcdsaKey, keyId, x509Key, type GeneratedKey, type TufKey } from './keys.js';
import { signMetadata, type SigningKey } from './generate.js';
import { goTime } from './go-time.js';
import { fileMeta } from './metadata.js';

/**
 * Test support for the TUF core (not exported from index.ts): X.509
 * certificates written by hand in DER (node:crypto cannot create
 * certificates, and node-forge cannot make ECDSA ones), and repositories
 * built and signed the way the docker and notary clients do.
 */

// ---- DER writer -----------------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else if (n < 0x100) len = Buffer.from([0x81, n]);
  else if (n < 0x10000) len = Buffer.from([0x82, n >> 8, n & 0xff]);
  else len = Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
const bool = (b: boolean): Buffer => tlv(0x01, Buffer.from([b ? 0xff : 0]));
const nul = (): Buffer => tlv(0x05, Buffer.alloc(0));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bits = (b: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 + n, inner);
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));

function int(b: Buffer): Buffer {
  return tlv(0x02, (b[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as number[];
  const out = [40 * (a as number) + (b as number)];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift((x & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const p = (n: number): string => String(n).padStart(2, '0');
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return y >= 1950 && y < 2050 ? tlv(0x17, Buffer.from(`${p(y % 100)}${rest}`)) : tlv(0x18, Buffer.from(`${y}${rest}`));
}

const name = (cn: string): Buffer => seq(set(seq(oid('2.5.4.3'), utf8(cn))));

// ---- certificates -----------------------------------------------------------

export interface CertificateOptions {
  commonName: string;
  /** The certified key pair (self-signed unless `issuer` is given). */
  publicKey: KeyObject;
  privateKey: KeyObject;
  notBefore?: Date;
  notAfter?: Date;
  hash?: 'sha256' | 'sha1';
  ca?: boolean;
  issuer?: { commonName: string; privateKey: KeyObject };
}

/** A v3 certificate shaped like the docker/notary root certificate (KeyUsage, CodeSigning, CA:FALSE), as PEM. */
export function makeCertificate(o: CertificateOptions): string {
  const hash = o.hash ?? 'sha256';
  const signer = o.issuer?.privateKey ?? o.privateKey;
  const ec = signer.asymmetricKeyType === 'ec';
  const alg = ec
    ? seq(oid(hash === 'sha256' ? '1.2.840.10045.4.3.2' : '1.2.840.10045.4.1'))
    : seq(oid(hash === 'sha256' ? '1.2.840.113549.1.1.11' : '1.2.840.113549.1.1.5'), nul());
  const notBefore = o.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = o.notAfter ?? new Date(Date.now() + 10 * 365 * 86_400_000);
  const extensions = seq(
    seq(oid('2.5.29.15'), bool(true), octets(o.ca ? bits(Buffer.from([0x06]), 1) : bits(Buffer.from([0xa0]), 5))),
    seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.3')))),
    seq(oid('2.5.29.19'), bool(true), octets(o.ca ? seq(bool(true)) : seq())),
  );
  const serial = randomBytes(16);
  // Positive, and minimal DER: a first byte of 0 followed by one below 0x80
  // is a non-minimal INTEGER that OpenSSL refuses (1 certificate in 256).
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40;
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))),
    int(serial),
    alg,
    name(o.issuer?.commonName ?? o.commonName),
    seq(time(notBefore), time(notAfter)),
    name(o.commonName),
    o.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, extensions),
  );
  const signature = cryptoSign(hash, tbs, signer);
  const der = seq(tbs, alg, bits(signature));
  const b64 = der.toString('base64').match(/.{1,64}/g) as string[];
  return `-----BEGIN CERTIFICATE-----\n${b64.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** A client's root key: the private key, its certificate for one GUN, and the certificate's TUF key. */
export interface RootKey extends SigningKey {
  privateKeyPem: string;
  certPem: string;
  tufKey: TufKey;
  keyId: string;
}

export interface RootKeyOptions extends Partial<Omit<CertificateOptions, 'publicKey' | 'privateKey'>> {
  /** An RSA key of this size instead of P-256. */
  rsaBits?: number;
}

/** A root key with a self-signed certificate whose CN is `gun` (unless overridden), like `docker trust` makes. */
export function makeRootKey(gun: string, options: RootKeyOptions = {}): RootKey {
  const { publicKey, privateKey } = options.rsaBits
    ? generateKeyPairSync('rsa', { modulusLength: options.rsaBits })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certPem = makeCertificate({ commonName: gun, ...options, publicKey, privateKey });
  const tufKey = x509Key(certPem);
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem, tufKey, keyId: keyId(tufKey) };
}

// ---- repositories -------------------------------------------------------------

const YEAR_MS = 365 * 86_400_000;

export function inYears(n: number, from = new Date()): Date {
  return new Date(from.getTime() + n * YEAR_MS);
}

/** A signed document in Go's layout. */
export const signDoc = signMetadata;

export interface DelegationSpec {
  name: string;
  keys: TufKey[];
  threshold?: number;
  paths?: string[];
}

/** A docker target entry for some manifest bytes (sha256 only, as docker writes). */
export function dockerTarget(manifest: Uint8Array): { hashes: { sha256: string }; length: number } {
  const m = fileMeta(manifest);
  return { hashes: { sha256: m.hashes.sha256 }, length: m.length };
}

/**
 * One GUN's keys and documents: root keys with certificates (client), a
 * targets key (client), snapshot and timestamp keys (server-held).
 */
export class TestRepo {
  rootKeys: RootKey[];
  readonly targetsKey: GeneratedKey = generateEcdsaKey();
  readonly snapshotKey: GeneratedKey = generateEcdsaKey();
  readonly timestampKey: GeneratedKey = generateEcdsaKey();

  constructor(readonly gun: string, rootKey?: RootKey) {
    this.rootKeys = [rootKey ?? makeRootKey(gun)];
  }

  get serverKeys(): { snapshot: string; timestamp: string } {
    return { snapshot: this.snapshotKey.keyId, timestamp: this.timestampKey.keyId };
  }

  /** The `signed` value of a root listing `rootKeys` (default: this repo's) and this repo's other keys. */
  rootSigned(version: number, o: { rootKeys?: RootKey[]; rootThreshold?: number; expires?: Date; extraKeys?: TufKey[] } = {}): Record<string, unknown> {
    const rootKeys = o.rootKeys ?? this.rootKeys;
    const keys: Record<string, TufKey> = {};
    for (const k of [...rootKeys.map((r) => r.tufKey), this.targetsKey.publicKey, this.snapshotKey.publicKey, this.timestampKey.publicKey, ...(o.extraKeys ?? [])]) {
      keys[keyId(k)] = k;
    }
    return {
      _type: 'Root',
      consistent_snapshot: false,
      expires: goTime(o.expires ?? inYears(10)),
      keys,
      roles: {
        root: { keyids: rootKeys.map((r) => r.keyId), threshold: o.rootThreshold ?? 1 },
        snapshot: { keyids: [this.snapshotKey.keyId], threshold: 1 },
        targets: { keyids: [this.targetsKey.keyId], threshold: 1 },
        timestamp: { keyids: [this.timestampKey.keyId], threshold: 1 },
      },
      version,
    };
  }

  /** A root document signed by `signers` (default: the listed root keys). */
  root(version: number, o: Parameters<TestRepo['rootSigned']>[1] & { signers?: SigningKey[] } = {}): Buffer {
    return signDoc(this.rootSigned(version, o), o.signers ?? o.rootKeys ?? this.rootKeys);
  }

  /** The `signed` value of a targets or delegation file. */
  targetsSigned(
    version: number,
    o: { targets?: Record<string, unknown>; delegations?: DelegationSpec[]; expires?: Date } = {},
  ): Record<string, unknown> {
    const keys: Record<string, TufKey> = {};
    for (const d of o.delegations ?? []) for (const k of d.keys) keys[keyId(k)] = k;
    return {
      _type: 'Targets',
      delegations: {
        keys,
        roles: (o.delegations ?? []).map((d) => ({ keyids: d.keys.map((k) => keyId(k)), name: d.name, paths: d.paths ?? [''], threshold: d.threshold ?? 1 })),
      },
      expires: goTime(o.expires ?? inYears(3)),
      targets: o.targets ?? {},
      version,
    };
  }

  /** A targets file signed by `signers` (default: the targets key). */
  targets(version: number, o: Parameters<TestRepo['targetsSigned']>[1] & { signers?: SigningKey[] } = {}): Buffer {
    return signDoc(this.targetsSigned(version, o), o.signers ?? [this.targetsKey]);
  }

  /** A client-made snapshot over `files` (exact bytes), signed by `signers` (default: the snapshot key). */
  snapshot(version: number, files: ReadonlyMap<string, Uint8Array>, o: { expires?: Date; signers?: SigningKey[] } = {}): Buffer {
    const meta: Record<string, unknown> = {};
    for (const [role, bytes] of files) meta[role] = fileMeta(bytes);
    return signDoc({ _type: 'Snapshot', expires: goTime(o.expires ?? inYears(3)), meta, version }, o.signers ?? [this.snapshotKey]);
  }
}
