import type { Listener, RegistryEventType } from '../events/index.js';
import type { SearchStore } from '../metadata/index.js';

/** The events that change which repositories exist. */
export const SEARCH_EVENT_TYPES: readonly RegistryEventType[] = ['repository.created', 'repository.deleted'];

/**
 * Keeps the search index in step with the repositories, after each commit.
 *
 * Consistency: the index may lag, never lie. The listener runs after the
 * content store committed, so for a moment a new repository is not yet
 * found; a search never shows a repository without manifests, because the
 * store checks for one in every query. `add` and `remove` re-read whether
 * the repository has a manifest, so an event that arrives late, twice, or
 * after the opposite one (a repository deleted and pushed again) still
 * leaves the truth, and so does every instance handling its own events on a
 * shared database. Events lost to a crash or a full queue are made good by
 * `reconcile()`: at start and hourly, once across instances (app.ts).
 */
export function searchIndexListener(store: SearchStore): Listener {
  return async (event) => {
    if (event.type === 'repository.created') await store.add(event.repository);
    else if (event.type === 'repository.deleted') await store.remove(event.repository);
  };
}
