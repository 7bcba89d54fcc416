import { RegistryError } from '../errors/index.js';
import { SIGNATURE_ARTIFACT_TYPES, cosignSignatureTag } from './formats.js';
import type { SignatureSource } from './types.js';

/** The registry core as the clean-up uses it: it reads, and deletes by digest, without events or pre-hooks. */
export interface SignatureStore extends SignatureSource {
  deleteManifest(repo: string, reference: string): Promise<unknown>;
}

/** What the clean-up needs of an event (a registry event fits). */
export interface DeletedManifestEvent {
  type: string;
  repository: string;
  digest: string | null;
}

export interface CleanupLogger {
  info(obj: object, msg: string): void;
}

const isCode = (err: unknown, code: string): boolean => err instanceof RegistryError && err.code === code;

/**
 * Signatures go with their subject. When a manifest is deleted by digest,
 * its signature artifacts are deleted too: the manifest tagged
 * `sha256-<hex>.sig` and the referrers whose artifactType is a signature's.
 * Other referrers (SBOMs, attestations) stay: whoever pushed them deletes
 * them, as the OCI conformance suites do. Deleting a tag deletes nothing
 * here: the signatures are of the digest, which is still there.
 *
 * A listener on `manifest.deleted`, run after the delete was committed;
 * if the subject is back by then (pushed again), its signatures stay.
 */
export function signatureCleanupListener(store: SignatureStore, log?: CleanupLogger): (event: DeletedManifestEvent) => Promise<void> {
  return async (event) => {
    if (event.type !== 'manifest.deleted' || event.digest === null) return;
    const { repository, digest } = event;
    try {
      await store.getManifest(repository, digest);
      return; // pushed again since: its signatures are its own again
    } catch (err) {
      if (!isCode(err, 'MANIFEST_UNKNOWN')) throw err;
    }
    const targets = new Set<string>();
    const index = await store.referrers(repository, digest);
    for (const d of Array.isArray(index.manifests) ? (index.manifests as { digest?: unknown; artifactType?: unknown }[]) : []) {
      if (typeof d.digest === 'string' && typeof d.artifactType === 'string' && SIGNATURE_ARTIFACT_TYPES.includes(d.artifactType)) targets.add(d.digest);
    }
    const tag = cosignSignatureTag(digest);
    if (tag) {
      try {
        targets.add((await store.getManifest(repository, tag)).digest);
      } catch (err) {
        if (!isCode(err, 'MANIFEST_UNKNOWN')) throw err;
      }
    }
    for (const target of targets) {
      try {
        await store.deleteManifest(repository, target);
      } catch (err) {
        if (!isCode(err, 'MANIFEST_UNKNOWN')) throw err;
      }
    }
    if (targets.size > 0) log?.info({ repo: repository, digest, count: targets.size }, 'deleted the signatures of a deleted manifest');
  };
}
