import { createHash, type KeyObject } from 'node:crypto';
import { isRegistryError } from '../errors/index.js';
import type { TrustFileRecord } from '../metadata/index.js';
import type { RegistryService } from '../registry/index.js';
import { cosignSignatureManifest, cosignSignatureTag, signSimpleSigning, simpleSigningPayload } from '../signatures/index.js';
import { signedTargets } from './signed-targets.js';

/**
 * `berth trust migrate`: a repository's Docker Content Trust signatures
 * become OCI signatures (sigstore simple signing, under cosign's
 * `sha256-<hex>.sig` tag, which cosign, skopeo, podman and Berth's trust
 * policy read), signed by a key the operator supplies. Teams leave DCT with
 * their history: every digest DCT signed, under any tag, by any signer,
 * gets one signature that names the DCT tags and signers it came from (in
 * the payload's signed `optional` fields).
 *
 * Only what DCT vouches for today is migrated: a tag whose trust metadata
 * has expired, or whose manifest is no longer in the repository, is
 * reported and skipped. Running it again adds nothing (the same payload
 * and signature are not appended twice; ECDSA signatures differ per run,
 * so a digest already signed by this key is left alone).
 */
export interface MigrationResult {
  digest: string;
  tags: string[];
  signers: string[];
  outcome: 'signed' | 'already-signed' | 'expired' | 'missing-manifest';
  /** The `.sig` manifest written (or that would be, with dryRun), when signed. */
  signatureDigest: string | null;
}

export interface MigrateOptions {
  /** The registry core (pushes go through its validation; no pull-time policy applies to reading). */
  registry: Pick<RegistryService, 'getManifest' | 'putBlob' | 'putManifest'>;
  /** The repository's current trust data. */
  trust: ReadonlyMap<string, TrustFileRecord>;
  repository: string;
  /** The name clients pull it by, written into each payload (`registry.example.com:5000/tools/app`). */
  reference: string;
  privateKey: KeyObject;
  /** Already-verified check: does an existing signature of `digest` verify under this key? */
  signedByKey: (digest: string) => Promise<boolean>;
  dryRun?: boolean;
  now?: Date;
}

export async function migrateTrust(o: MigrateOptions): Promise<MigrationResult[]> {
  const byDigest = new Map<string, { tags: Set<string>; signers: Set<string>; expired: boolean }>();
  for (const t of signedTargets(o.trust, o.now ?? new Date())) {
    let e = byDigest.get(t.digest);
    if (!e) byDigest.set(t.digest, (e = { tags: new Set(), signers: new Set(), expired: true }));
    e.tags.add(t.tag);
    for (const s of t.signers) e.signers.add(s);
    if (!t.expired) e.expired = false;
  }
  const results: MigrationResult[] = [];
  for (const [digest, e] of [...byDigest].sort(([a], [b]) => a.localeCompare(b))) {
    const base = { digest, tags: [...e.tags].sort(), signers: [...e.signers].sort(), signatureDigest: null };
    if (e.expired) {
      results.push({ ...base, outcome: 'expired' });
      continue;
    }
    if (!(await exists(o.registry, o.repository, digest))) {
      results.push({ ...base, outcome: 'missing-manifest' });
      continue;
    }
    if (await o.signedByKey(digest)) {
      results.push({ ...base, outcome: 'already-signed' });
      continue;
    }
    const tag = cosignSignatureTag(digest);
    if (!tag) continue; // signedTargets yields sha256 digests only
    const payload = simpleSigningPayload(digest, o.reference, { 'migrated-from': 'docker-content-trust', 'dct-tags': base.tags.join(','), 'dct-signers': base.signers.join(',') });
    const existing = await o.registry.getManifest(o.repository, tag).then((m) => m.content, (err: unknown) => {
      if (isRegistryError(err) && err.code === 'MANIFEST_UNKNOWN') return null;
      throw err;
    });
    const sig = cosignSignatureManifest([signSimpleSigning(payload, o.privateKey)], existing);
    if (!o.dryRun) {
      for (const blob of sig.blobs) await o.registry.putBlob(o.repository, sha256Digest(blob), once(blob), { contentLength: blob.length });
      await o.registry.putManifest(o.repository, tag, sig.manifest, sig.mediaType);
    }
    results.push({ ...base, outcome: 'signed', signatureDigest: sig.digest });
  }
  return results;
}

async function exists(registry: MigrateOptions['registry'], repository: string, digest: string): Promise<boolean> {
  try {
    await registry.getManifest(repository, digest);
    return true;
  } catch (err) {
    if (isRegistryError(err) && err.code === 'MANIFEST_UNKNOWN') return false;
    throw err;
  }
}

async function* once(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
}

function sha256Digest(b: Uint8Array): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}
