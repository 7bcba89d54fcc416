import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { RegistryError } from '../errors/index.js';
import type { ContentStore, ManifestRecord, MetadataStores } from '../metadata/index.js';
import type { GuardOptions } from './changes.js';
import { acceptsMediaType, parseManifest, type ParsedManifest } from './manifest.js';
import { SharedReads } from './shared-reads.js';
import { ManifestCache } from './manifest-cache.js';
import { MediaType } from './media-types.js';
import { assertRepositoryName, isValidTag, parseDigest, parseReference } from './names.js';
import type { ManifestPushResult, PutManifestOptions, ReadOptions } from './service.js';
import type { SparsePolicy } from './sparse-policy.js';
import type { WritePolicy } from './write-policy.js';

/**
 * Most `tag` parameters one manifest push may name. The spec asks for at
 * least 10; 50 keeps the request line within common proxies' limits
 * (128 characters a tag). More is 414 BERTH_TOO_MANY_TAGS.
 */
export const MAX_TAGS_PER_PUSH = 50;

/** Distinct (media type, Accept header) pairs remembered, least recently used forgotten first. */
const MAX_ACCEPT_VERDICTS = 256;

export interface ManifestsOptions {
  metadata: Pick<MetadataStores, 'content'>;
  policy: WritePolicy;
  /** Largest manifest accepted (limits.manifestmaxbytes). */
  manifestMaxBytes: number;
  /** Repositories that accept manifests whose children or layers are absent (manifests.sparse). */
  sparse: SparsePolicy;
}

/**
 * Manifests: pulling by tag or digest, pushing (checked, with everything it
 * references present in the repository), deleting by digest, and the
 * referrers of a subject. Tags alone are tags.ts.
 */
export class Manifests {
  private readonly cache = new ManifestCache();
  /** Tag-list versions read once for the pulls of a repository that arrive together. */
  private readonly versions = new SharedReads<number | null>();
  private readonly acceptVerdicts = new LRUCache<string, boolean>({ max: MAX_ACCEPT_VERDICTS });

  constructor(private readonly options: ManifestsOptions) {}

  /** Read per call: the store belongs to the open database handle. */
  private get content(): ContentStore {
    return this.options.metadata.content;
  }

  /**
   * Resolves a tag or digest; MANIFEST_UNKNOWN when absent or not acceptable
   * to the client. A tag is served from the manifest cache while the
   * repository's tag-list version is unchanged (see ManifestCache).
   */
  async get(repo: string, reference: string, accept?: string, _options?: ReadOptions): Promise<ManifestRecord> {
    assertRepositoryName(repo);
    const ref = parseReference(reference, 'lookup');
    const manifest = ref.kind === 'tag' ? await this.resolveTag(repo, ref.tag) : await this.content.getManifest(repo, ref.digest.digest);
    if (!manifest) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { name: repo, reference } });
    if (!this.accepts(accept, manifest.mediaType)) {
      throw new RegistryError('MANIFEST_UNKNOWN', `the manifest is a ${manifest.mediaType}, which the Accept header does not include`, {
        detail: { name: repo, reference, mediaType: manifest.mediaType },
      });
    }
    return manifest;
  }

  /** acceptsMediaType, remembered: clients send the same few Accept headers on every pull. */
  private accepts(accept: string | undefined, mediaType: string): boolean {
    if (!accept) return true;
    const key = `${mediaType}\n${accept}`;
    let yes = this.acceptVerdicts.get(key);
    if (yes === undefined) {
      yes = acceptsMediaType(accept, mediaType);
      this.acceptVerdicts.set(key, yes);
    }
    return yes;
  }

  private async resolveTag(repo: string, tag: string): Promise<ManifestRecord | null> {
    const { content } = this;
    // The version first (see ManifestCache); no repository, no tag.
    const version = await this.versions.get(repo, (r) => content.tagListVersion(r));
    if (version === null) return null;
    const hit = this.cache.get(repo, tag, version);
    if (hit) return hit;
    const manifest = await content.resolveTag(repo, tag);
    return manifest && this.cache.set(repo, tag, version, manifest);
  }

  /**
   * Stores a manifest after checking it and everything it references, and
   * points its tags at it: the reference's tag, or the `tags` of a push by
   * digest (the spec's `?tag=`), all in one transaction. A bad tag refuses
   * the whole push before anything is written.
   */
  async put(repo: string, reference: string, body: Buffer, contentType: string | undefined, options: PutManifestOptions = {}): Promise<ManifestPushResult> {
    assertRepositoryName(repo);
    this.options.policy.assertWritable();
    const ref = parseReference(reference);
    const tags = tagsOf(ref.kind === 'tag' ? ref.tag : null, options.tags ?? []);
    const { content } = this;
    const { manifestMaxBytes } = this.options;
    if (body.length > manifestMaxBytes) {
      throw new RegistryError('BERTH_MANIFEST_TOO_LARGE', `manifest exceeds ${manifestMaxBytes} bytes`);
    }
    // A push by digest is hashed with the digest's algorithm, so the answer
    // names the digest the client gave; a push by tag alone uses sha256.
    const algorithm = ref.kind === 'digest' ? ref.digest.algorithm : 'sha256';
    const digest = `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
    if (ref.kind === 'digest' && ref.digest.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', 'the manifest does not match the digest in the URL', { detail: { digest: ref.digest.digest } });
    }
    const parsed = parseManifest(body, contentType);
    const required = await this.assertReferencesPresent(repo, parsed);
    const tag = tags[0] ?? null;
    await options.guard?.({
      type: 'manifest.push', repository: repo, digest, mediaType: parsed.mediaType, size: body.length, tag, tags,
      subject: parsed.subject, artifactType: parsed.artifactType, references: parsed.references,
    });
    const outcome = await content.putManifest({
      manifest: {
        repository: repo,
        digest,
        mediaType: parsed.mediaType,
        size: body.length,
        content: body,
        artifactType: parsed.artifactType,
        subject: parsed.subject,
        annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
      },
      references: parsed.references,
      // Checked again in the write's transaction: garbage collection may take one between (gc/collector.ts).
      requiredBlobs: required.blobs,
      requiredManifests: required.manifests,
      tags,
    });
    const previous = outcome.previousTagDigests ?? {};
    return {
      repository: repo, digest, mediaType: parsed.mediaType, size: body.length, subject: parsed.subject, tag,
      previousTagDigest: tag === null ? null : previous[tag] ?? null,
      tags: tags.map((t) => ({ tag: t, previousDigest: previous[t] ?? null })),
      repositoryCreated: outcome.repositoryCreated,
    };
  }

  /**
   * Everything a manifest references must be in the repository, except
   * where sparse manifests are allowed (manifests.sparse): there child
   * manifests and layers may be absent, the config blob may not.
   */
  private async assertReferencesPresent(repo: string, parsed: ParsedManifest): Promise<{ blobs: string[]; manifests: string[] }> {
    const { content } = this;
    const sparse = this.options.sparse.allows(repo);
    const blobs = parsed.references.filter((r) => r.kind === 'blob' && (!sparse || r.digest === parsed.config)).map((r) => r.digest);
    const missingBlobs = await content.missingBlobs(repo, blobs);
    if (missingBlobs.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'the manifest references blobs that are not in the repository', { detail: { digests: missingBlobs.slice(0, 20) } });
    }
    if (sparse) return { blobs, manifests: [] };
    const children = parsed.references.filter((r) => r.kind === 'manifest').map((r) => r.digest);
    const missingChildren = await content.missingManifests(repo, children);
    if (missingChildren.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'the index references manifests that are not in the repository', { detail: { digests: missingChildren.slice(0, 20) } });
    }
    return { blobs, manifests: children };
  }

  /**
   * Deletes the manifest `digest` (already parsed, with deletes allowed) and
   * every tag pointing at it. `reference` is what the client named, for the error.
   */
  async delete(repo: string, digest: string, reference: string, options: GuardOptions = {}): Promise<{ tags: string[]; repositoryEmptied: boolean }> {
    const { content } = this;
    const unknown = () => new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { name: repo, reference } });
    if (!(await content.getManifest(repo, digest))) throw unknown();
    await options.guard?.({ type: 'manifest.delete', repository: repo, digest });
    const deleted = await content.deleteManifest(repo, digest);
    if (!deleted) throw unknown();
    return deleted;
  }

  /** The referrers of `digest` as an OCI image index. */
  async referrers(repo: string, digest: string, artifactType?: string): Promise<Record<string, unknown>> {
    assertRepositoryName(repo);
    const d = parseDigest(digest);
    const rows = await this.content.listReferrers(repo, d.digest, artifactType);
    return {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: rows.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.annotations ? { annotations: JSON.parse(r.annotations) as Record<string, string> } : {}),
      })),
    };
  }
}

/**
 * The tags of a push, in request order without duplicates: the reference's
 * tag first, then the `tag` parameters. Any invalid one refuses the push
 * (TAG_INVALID), and more than MAX_TAGS_PER_PUSH parameters are 414.
 */
function tagsOf(referenceTag: string | null, params: readonly string[]): string[] {
  if (params.length > MAX_TAGS_PER_PUSH) {
    throw new RegistryError('BERTH_TOO_MANY_TAGS', `a push may name at most ${MAX_TAGS_PER_PUSH} tags; it named ${params.length}`, { detail: { limit: MAX_TAGS_PER_PUSH, count: params.length } });
  }
  for (const t of params) {
    if (!isValidTag(t)) throw new RegistryError('TAG_INVALID', `invalid tag ${JSON.stringify(t.slice(0, 140))}: tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}; nothing was stored`, { detail: { tag: t.slice(0, 200) } });
  }
  return [...new Set([...(referenceTag !== null ? [referenceTag] : []), ...params])];
}
