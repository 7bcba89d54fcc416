import type { ManifestReference } from '../metadata/index.js';

/**
 * A change to registry content that is about to happen, with the facts a
 * policy needs to allow or refuse it. Write operations of the registry core
 * describe their change to a `CommitGuard` after validating it and before
 * committing anything; reads are described by the service that wraps the
 * core (events/), before the content is handed out.
 *
 * Quotas, immutable tags and the pull-time signature policy are guards; they
 * refuse by throwing a RegistryError from the catalogue, which the client
 * gets as it is.
 */
export type RegistryChange =
  | {
      type: 'manifest.push';
      repository: string;
      digest: string;
      mediaType: string;
      size: number;
      /**
       * The first tag the push names (the reference, or the first `tag`
       * parameter of a push by digest), or null when it names none. Kept
       * for guards written before `tags`; read `tags` for the whole set.
       */
      tag: string | null;
      /** Every tag the push points at the manifest, in request order, without duplicates (empty for a push by digest alone). */
      tags: readonly string[];
      subject: string | null;
      artifactType: string | null;
      references: readonly ManifestReference[];
    }
  | { type: 'manifest.pull'; repository: string; reference: string; digest: string; mediaType: string; size: number }
  /** DELETE by digest: the manifest and every tag pointing at it. */
  | { type: 'manifest.delete'; repository: string; digest: string }
  /** DELETE by tag: the tag only. */
  | { type: 'tag.delete'; repository: string; tag: string; digest: string }
  | { type: 'blob.push'; repository: string; digest: string; size: number }
  | { type: 'blob.mount'; repository: string; from: string; digest: string; size: number }
  | { type: 'blob.pull'; repository: string; digest: string; size: number }
  | { type: 'blob.delete'; repository: string; digest: string }
  | { type: 'upload.start'; repository: string };

export type RegistryChangeType = RegistryChange['type'];

/** Allows a change by returning, refuses it by throwing a RegistryError. */
export type CommitGuard = (change: RegistryChange) => Promise<void>;

/** Options of a write operation of the registry core. */
export interface GuardOptions {
  /** Asked after validation, before anything is committed. */
  guard?: CommitGuard | undefined;
}
