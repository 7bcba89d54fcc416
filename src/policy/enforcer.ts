import { LRUCache } from 'lru-cache';
import { RegistryError } from '../errors/index.js';
import type { EventContext, PreHook } from '../events/index.js';
import type { AuditStore, ContentStore, PolicyRecord, PolicyStore, PullFacts } from '../metadata/index.js';
import { SharedReads, type RegistryChange } from '../registry/index.js';
import type { SignatureSource, VerifySignatures } from '../signatures/types.js';
import type { DctTarget } from '../trust/index.js';
import { formatScope, resolvePolicy } from './scope.js';
import { decide, trustedList, type Verdict } from './verdict.js';

/** Docker Content Trust as the policy reads it (TrustService). */
export interface DctSource {
  signedTargets(repository: string, now?: number): Promise<DctTarget[]>;
}

/** What the enforcer logs; a pino logger fits. */
export interface PolicyLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface PolicyEnforcerOptions {
  store: PolicyStore;
  content: ContentStore;
  /** The registry core (no pre-hooks): reading a signature is not a pull. */
  source: SignatureSource;
  verify: VerifySignatures;
  /** Docker Content Trust data; null when trust is off (DCT signers then never match). */
  dct: DctSource | null;
  /** Where audit-mode verdicts are recorded. */
  audit: AuditStore | null;
  log: PolicyLogger;
  now?: () => number;
  /** Verdicts kept (default 10,000). */
  cacheSize?: number;
  /** How long a verdict is reused at most (default 60 s): signatures and DCT metadata expire with time alone. */
  cacheTtlMs?: number;
}

/** The trust state of one tag (GET /api/v1/repositories/{name}/trust). */
export interface TagTrust {
  tag: string;
  digest: string;
  state: 'verified' | 'unsigned' | 'invalid';
  reason: Verdict['reason'];
  detail: string;
  by: Verdict['by'];
}

export interface RepositoryTrust {
  repository: string;
  /** The policy that applies (null: none; every tag is then judged against no trusted key). */
  policy: { scope: string; mode: 'enforce' | 'audit'; revision: number } | null;
  tags: TagTrust[];
  /** More tags exist than were judged. */
  truncated: boolean;
}

const MAX_TAGS = 1000;
/** Parents looked at for a child manifest, and how deep (an index of indexes). */
const MAX_PARENTS = 16;
const MAX_DEPTH = 2;
/** Layers that only signature envelopes have: a manifest made only of them cannot be run. */
const SIGNATURE_LAYERS = new Set(['application/vnd.dev.cosign.simplesigning.v1+json', 'application/jose+json', 'application/cose']);
const COSIGN_TAG = /^sha256-[a-f0-9]{64}\.(sig|att|sbom)$/;

/** cosign's tag for the signatures of a sha256 digest, '' for other digests (no tag can match it). */
function sigTagOf(digest: string): string {
  return /^sha256:[a-f0-9]{64}$/.test(digest) ? `sha256-${digest.slice(7)}.sig` : '';
}

const NO_POLICY = { keys: [], dctSigners: [] };

/**
 * The pull-time trust policy: a pre-hook on `manifest.pull` that refuses
 * (DENIED) a manifest whose signatures do not verify under the policy that
 * applies to its repository, and the per-tag trust state.
 *
 * Cost: a pull reads one statement (PolicyStore.pullFacts) and, on a cache
 * hit, nothing else. Verdicts are cached under a key made of everything
 * they depend on: repository, digest, tag (for DCT), the policy's scope and
 * revision, the digests of the signature artifacts (referrers and the .sig
 * tag) and the DCT timestamp's hash. A new signature, a removed one, a
 * changed or deleted policy, or a DCT publish changes the key, on every
 * instance, so no invalidation is needed; a TTL covers expiry by time alone.
 */
export class PolicyEnforcer {
  private set: { revision: number; policies: PolicyRecord[] } | null = null;
  /** The revision read once for the pulls that arrive together (every pull checks it). */
  private readonly revisions = new SharedReads<number>();
  private readonly verdicts: LRUCache<string, Verdict>;
  private readonly dctTargets: LRUCache<string, DctTarget[]>;
  /** Whether (repository, digest) is a signature artifact: manifests never change, so this never expires. */
  private readonly artifacts = new LRUCache<string, boolean>({ max: 10_000 });
  private readonly now: () => number;

  constructor(private readonly options: PolicyEnforcerOptions) {
    const ttl = options.cacheTtlMs ?? 60_000;
    this.verdicts = new LRUCache({ max: options.cacheSize ?? 10_000, ttl });
    this.dctTargets = new LRUCache({ max: 1000, ttl });
    this.now = options.now ?? Date.now;
  }

  /** The pre-hook to register on the event bus. */
  readonly hook: PreHook = (change, context) => this.check(change, context);

  /** The policies in force, reloaded when the store's revision is not the one cached. */
  private async policies(revision?: number): Promise<PolicyRecord[]> {
    const known = revision ?? (await this.revisions.get('', () => this.options.store.revision()));
    if (this.set && this.set.revision === known) return this.set.policies;
    const fresh = await this.options.store.list();
    if (!this.set || fresh.revision >= this.set.revision) this.set = fresh;
    return fresh.policies;
  }

  /** The policy that applies to `repository` now (read through the revision check). */
  async policyFor(repository: string): Promise<PolicyRecord | null> {
    return resolvePolicy(await this.policies(), repository);
  }

  private async check(change: RegistryChange, context: EventContext): Promise<void> {
    if (change.type !== 'manifest.pull') return;
    const { repository: repo, digest, reference } = change;
    const sigTag = sigTagOf(digest);
    // One statement per pull: with a policy in the cached set, the facts (which carry the
    // revision); without, the revision alone (and the facts only if a new policy applies).
    let policy = this.set ? resolvePolicy(this.set.policies, repo) : null;
    let facts: PullFacts | null = null;
    if (policy) {
      facts = await this.options.store.pullFacts(repo, digest, sigTag);
      if (facts.revision !== this.set?.revision) policy = resolvePolicy(await this.policies(facts.revision), repo);
    } else {
      policy = resolvePolicy(await this.policies(), repo);
      if (policy) facts = await this.options.store.pullFacts(repo, digest, sigTag);
    }
    if (!policy || !facts) return;
    const tag = reference.includes(':') ? null : reference;
    const verdict = await this.verdict(policy, repo, digest, tag, facts);
    if (verdict.allowed) return;
    // Clients must be able to read the signatures in order to verify them.
    if (await this.isSignatureArtifact(repo, digest)) return;
    if (await this.verifiedParent(policy, repo, digest, 0)) return;
    const scope = formatScope(policy);
    const trusted = trustedList(policy.keys, policy.dctSigners);
    const message = `pull of ${repo}${tag === null ? `@${digest}` : `:${tag}`} refused by the trust policy of ${scope}: ${verdict.reason} (${verdict.detail}; the policy trusts ${trusted})`;
    const detail = { repository: repo, reference, digest, scope, reason: verdict.reason };
    if (policy.mode === 'audit') {
      this.options.log.info({ repo, digest, reference, scope, reason: verdict.reason }, 'trust policy would refuse pull (audit mode)');
      await this.options.audit?.record({
        time: this.now(), actor: context.actor.name, action: 'trust.policy.verdict', target: `${repo}@${digest}`, remoteAddress: context.remoteAddress,
        outcome: 'failure', detail: { ...detail, mode: 'audit', message },
      }).catch((err: unknown) => this.options.log.warn({ err, repo }, 'failed to record audit-mode verdict'));
      return;
    }
    throw new RegistryError('DENIED', message, { detail });
  }

  /** The verdict of `policy` on `digest` (pulled by `tag`, or by digest when null), cached by everything it depends on. */
  private async verdict(policy: PolicyRecord, repo: string, digest: string, tag: string | null, facts: PullFacts): Promise<Verdict> {
    const usesDct = policy.dctSigners.length > 0;
    const key = [repo, digest, usesDct && tag !== null ? tag : '', formatScope(policy), policy.revision, facts.referrers.join(','), facts.sigTag ?? '', usesDct ? (facts.dct ?? '') : ''].join('\n');
    const hit = this.verdicts.get(key);
    if (hit) return hit;
    const verdict = await this.judge(policy, repo, digest, tag, facts, usesDct);
    this.verdicts.set(key, verdict);
    return verdict;
  }

  private async judge(policy: { keys: PolicyRecord['keys']; dctSigners: string[] }, repo: string, digest: string, tag: string | null, facts: PullFacts, withDct: boolean): Promise<Verdict> {
    const now = this.now();
    const findings = facts.referrers.length > 0 || facts.sigTag !== null ? await this.options.verify(this.options.source, repo, digest, policy.keys, now) : [];
    const targets = withDct && facts.dct !== null ? await this.dctFor(repo, facts.dct) : [];
    return decide(policy, digest, tag, findings, targets);
  }

  /** The repository's signed DCT targets, cached by the hash of its current timestamp metadata. */
  private async dctFor(repo: string, timestamp: string): Promise<DctTarget[]> {
    if (!this.options.dct) return [];
    const key = `${repo}\n${timestamp}`;
    const cached = this.dctTargets.get(key);
    if (cached) return cached;
    const targets = await this.options.dct.signedTargets(repo, this.now());
    this.dctTargets.set(key, targets);
    return targets;
  }

  private async isSignatureArtifact(repo: string, digest: string): Promise<boolean> {
    const key = `${repo}\n${digest}`;
    const known = this.artifacts.get(key);
    if (known !== undefined) return known;
    const m = await this.options.content.getManifest(repo, digest);
    let yes = false;
    try {
      const doc = m ? (JSON.parse(m.content.toString('utf8')) as { manifests?: unknown; layers?: unknown }) : null;
      const layers = doc && !Array.isArray(doc.manifests) && Array.isArray(doc.layers) ? (doc.layers as { mediaType?: unknown }[]) : [];
      yes = layers.length > 0 && layers.every((l) => typeof l?.mediaType === 'string' && SIGNATURE_LAYERS.has(l.mediaType));
    } catch {
      yes = false;
    }
    if (m) this.artifacts.set(key, yes);
    return yes;
  }

  /** True when an index of the repository that lists `digest` (or lists an index that does) verifies. */
  private async verifiedParent(policy: PolicyRecord, repo: string, digest: string, depth: number): Promise<boolean> {
    if (depth >= MAX_DEPTH) return false;
    for (const parent of await this.options.content.parentManifests(repo, digest, MAX_PARENTS)) {
      const facts = await this.options.store.pullFacts(repo, parent, sigTagOf(parent));
      if ((await this.verdict(policy, repo, parent, null, facts)).allowed) return true;
      if (await this.verifiedParent(policy, repo, parent, depth + 1)) return true;
    }
    return false;
  }

  /**
   * Each tag of `repository` with its trust state under the policy that
   * applies: verified (and by whom), unsigned, or invalid (signed, but
   * nothing that verifies). cosign's own tags (`sha256-….sig`) are left out.
   */
  async trustState(repository: string): Promise<RepositoryTrust> {
    if ((await this.options.content.tagListVersion(repository)) === null) throw new RegistryError('NAME_UNKNOWN', `repository ${repository} is not known to the registry`, { detail: { name: repository } });
    const policy = await this.policyFor(repository);
    const names = await this.options.content.listTags(repository, { limit: MAX_TAGS + 1 });
    const tags: TagTrust[] = [];
    for (const tag of names.slice(0, MAX_TAGS)) {
      if (COSIGN_TAG.test(tag)) continue;
      const m = await this.options.content.resolveTag(repository, tag);
      if (!m) continue; // deleted meanwhile
      const facts = await this.options.store.pullFacts(repository, m.digest, sigTagOf(m.digest));
      const v = policy ? await this.verdict(policy, repository, m.digest, tag, facts) : await this.judge(NO_POLICY, repository, m.digest, tag, facts, true);
      let { reason, detail } = v;
      let signed = v.signed;
      if (!signed && facts.dct !== null) {
        // A policy without DCT signers does not read DCT; a DCT-signed tag still shows as signed here.
        const t = (await this.dctFor(repository, facts.dct)).find((x) => x.tag === tag && x.digest === m.digest);
        if (t) {
          signed = true;
          reason = 'unknown key';
          detail = `signed in DCT by ${t.signers.join(', ')}, not a signer the policy trusts`;
        }
      }
      tags.push({ tag, digest: m.digest, state: v.allowed ? 'verified' : signed ? 'invalid' : 'unsigned', reason, detail, by: v.by });
    }
    return {
      repository,
      policy: policy ? { scope: formatScope(policy), mode: policy.mode, revision: policy.revision } : null,
      tags,
      truncated: names.length > MAX_TAGS,
    };
  }
}
