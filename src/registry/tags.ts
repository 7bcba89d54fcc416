import { RegistryError } from '../errors/index.js';
import type { ContentStore, MetadataStores } from '../metadata/index.js';
import type { GuardOptions } from './changes.js';
import type { PageOptions } from './service.js';
import { assertRepositoryName } from './names.js';
import { SharedReads } from './shared-reads.js';
import { pageOf, TagListCache } from './tag-list-cache.js';

export interface TagsOptions {
  metadata: Pick<MetadataStores, 'content'>;
}

/**
 * Tags and the listings: one repository's tags (served from the tag-list
 * cache), the catalog of repositories, and deleting a tag alone. Pushing a
 * tag is a manifest push (manifests.ts).
 */
export class Tags {
  private readonly tagLists = new TagListCache();
  /** Tag-list versions read once for the requests of a repository that arrive together. */
  private readonly versions = new SharedReads<number | null>();

  constructor(private readonly options: TagsOptions) {}

  /** Read per call: the store belongs to the open database handle. */
  private get content(): ContentStore {
    return this.options.metadata.content;
  }

  /**
   * One page of tags; `more` says whether another page follows. Served from
   * the tag-list cache while the repository's tag-list version is unchanged
   * (a 10,000-tag list costs one indexed lookup instead of 10,000 rows).
   */
  async list(repo: string, page: PageOptions): Promise<{ tags: string[]; more: boolean }> {
    assertRepositoryName(repo);
    const { content } = this;
    // The version is read before the tags (see TagListCache).
    const version = await this.versions.get(repo, (r) => content.tagListVersion(r));
    if (version === null) throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name: repo } });
    if (page.limit === 0) return { tags: [], more: false };
    let all = this.tagLists.get(repo, version);
    if (!all) {
      all = await content.listTags(repo, {});
      this.tagLists.set(repo, version, all);
    }
    const { items, more } = pageOf(all, page.last, page.limit);
    return { tags: items, more };
  }

  /** The catalog: repositories with at least one manifest. */
  async repositories(page: PageOptions & { limit: number }): Promise<{ repositories: string[]; more: boolean }> {
    if (page.limit === 0) return { repositories: [], more: false };
    const names = await this.content.listRepositories({ last: page.last, limit: page.limit + 1 });
    const more = names.length > page.limit;
    return { repositories: more ? names.slice(0, page.limit) : names, more };
  }

  /**
   * Deletes tag `tag` (already parsed, with deletes allowed), not its
   * manifest; returns the digest it pointed to. `reference` is what the
   * client named, for the error.
   */
  async delete(repo: string, tag: string, reference: string, options: GuardOptions = {}): Promise<string> {
    const { content } = this;
    const unknown = () => new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { name: repo, reference } });
    const current = await content.resolveTag(repo, tag);
    if (!current) throw unknown();
    await options.guard?.({ type: 'tag.delete', repository: repo, tag, digest: current.digest });
    const digest = await content.deleteTag(repo, tag);
    if (digest === null) throw unknown();
    return digest;
  }
}
