/**
 * The one error catalogue. Every error Berth reports to a client comes from
 * here: the OCI Distribution codes keep the spec's spelling; Berth's own codes
 * carry the `BERTH_` prefix. Retired codes are never reused.
 *
 * `status` is the HTTP status the code is answered with: the only place a
 * status comes from. Where the spec answers one wire code with several
 * statuses (BLOB_UPLOAD_INVALID with 400, 409 or 416; SIZE_INVALID with 400
 * or 413), each case is its own entry whose `wire` is the spec's code, so the
 * domain throws a code with facts and never picks a status.
 */
export const errorCatalog = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry', description: 'This error may be returned when a blob is unknown to the registry in a specified repository.' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid', description: 'The blob upload encountered an error and can no longer proceed.' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry', description: 'If a blob upload has been cancelled or was never started, this error code may be returned.' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content', description: 'When a blob is uploaded, the registry will check that the content matches the digest provided by the client.' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry', description: 'This error may be returned when a manifest blob is unknown to the registry.' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid', description: 'During upload, manifests undergo several checks ensuring validity.' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI', description: 'A tag named in the request (the reference, or a `tag` query parameter of a push by digest) is not a valid tag; nothing of the request was done. Tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry', description: 'This error is returned when the manifest, identified by name and tag is unknown to the repository.' },
  NAME_INVALID: { status: 400, message: 'invalid repository name', description: 'Invalid repository name encountered either during manifest validation or any API operation.' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry', description: 'This is returned if the name used during an operation is unknown to the registry.' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length', description: 'When a layer is uploaded, the provided size will be checked against the uploaded content.' },
  UNAUTHORIZED: { status: 401, message: 'authentication required', description: 'The access controller was unable to authenticate the client.' },
  DENIED: { status: 403, message: 'requested access to the resource is denied', description: 'The access controller denied access for the operation on a resource.' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported', description: 'The operation was unsupported due to a missing implementation or invalid set of parameters.' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests', description: 'Returned when a client attempts to contact a service too many times.' },
  // Berth's own codes.
  BERTH_UPLOAD_RANGE_INVALID: { status: 416, wire: 'BLOB_UPLOAD_INVALID', message: 'blob upload invalid', description: 'A chunk does not start where the upload stands, its Content-Range is malformed or disagrees with its length; the Range header says where the upload stands.' },
  BERTH_UPLOAD_BUSY: { status: 409, wire: 'BLOB_UPLOAD_INVALID', message: 'blob upload invalid', description: 'Another request is writing the same upload session right now (possibly on another instance); retry.' },
  BERTH_MANIFEST_TOO_LARGE: { status: 413, wire: 'SIZE_INVALID', message: 'manifest too large', description: 'The manifest exceeds limits.manifestmaxbytes.' },
  BERTH_RANGE_INVALID: { status: 416, message: 'requested range not satisfiable', description: 'The Range header is malformed or lies past the end of the blob.' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested', description: 'Returned when the n parameter (number of results to return) is not an integer, or n is negative.' },
  BERTH_BAD_REQUEST: { status: 400, message: 'malformed HTTP request', description: 'The request could not be parsed as HTTP/1.1.' },
  BERTH_HEADERS_TOO_LARGE: { status: 431, message: 'request header fields too large', description: 'The request\'s headers exceed 16 KiB.' },
  BERTH_REQUEST_TIMEOUT: { status: 408, message: 'request timeout', description: 'The request\'s headers did not arrive within 60 seconds; the connection is closed.' },
  BERTH_TOKEN_REQUEST_INVALID: { status: 400, message: 'invalid token request', description: 'The token endpoint was asked for another service, an unknown grant type, or without required fields.' },
  BERTH_NOT_FOUND: { status: 404, message: 'not found', description: 'No such user, organization, team, grant or access token (the management API and CLI); the detail names which.' },
  BERTH_ROUTE_UNKNOWN: { status: 404, message: 'no such route', description: 'No route matches the request path, or the route belongs to a feature this configuration does not enable (the message names the setting).' },
  BERTH_METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed', description: 'The route exists but does not accept this method.' },
  BERTH_TOO_MANY_TAGS: { status: 414, message: 'too many tags in one request', description: 'A manifest push by digest names more `tag` query parameters than Berth accepts in one request (50); nothing was stored. Push the manifest again with fewer tags per request: pushing the same manifest again is harmless.' },
  BERTH_TOO_LARGE: { status: 413, message: 'request entity too large', description: 'The request body exceeds the configured limit.' },
  BERTH_INVALID: { status: 400, message: 'invalid request', description: 'A management request (users, organizations, teams, grants, tokens) failed validation; the detail names each field.' },
  BERTH_CONFLICT: { status: 409, message: 'conflict', description: 'The user, organization, team or token already exists, or the change contradicts existing state.' },
  BERTH_STORAGE_FULL: { status: 507, message: 'the registry\'s storage is full', description: 'The disk or database the registry writes to has no space left (ENOSPC, a quota, SQLite\'s "database or disk is full"); nothing was stored. Free space or grow the volume, then retry.' },
  BERTH_TAG_IMMUTABLE: { status: 409, wire: 'DENIED', message: 'the tag is immutable', description: 'An immutable-tag rule protects the tag: pushing it again with other content, deleting it, or deleting a manifest by digest that it names is refused; the message names the tag and the rule. Pushing the same content again is allowed. Push under a new tag, or delete the rule (berth immutable delete ID).' },
  BERTH_QUOTA_EXCEEDED: { status: 413, wire: 'DENIED', message: 'the namespace\'s storage quota is exceeded', description: 'Storing the blob or manifest would take the namespace over its quota (or it is already full): nothing was kept. The message names the namespace, its usage, the limit and what the push needed. Delete content (and run garbage collection), or raise the quota (berth quota set NAMESPACE SIZE).' },
  BERTH_IMPORT_INVALID: { status: 400, message: 'the file to import is unsafe or inconsistent', description: 'A file given to `berth import` (a docker save tarball, an OCI image layout, a bundle) was refused whole: a member whose path leaves the archive (`../`, absolute), a hard link or a symbolic link that does not name a regular file of the archive, a declared size beyond the file or the limit, a truncated archive, bytes that do not match their digest, a missing or unparsable index, an ambiguous or missing name, or an image ID other than --expect-id. Nothing was imported; the message names the file and the member.' },
  BERTH_UNAVAILABLE: { status: 503, message: 'service unavailable', description: 'A backing service (database or storage) is unavailable; retry later.' },
  BERTH_BLOB_CORRUPT: { status: 500, message: 'the stored blob failed verification', description: 'The bytes Berth holds for this blob do not match its digest or recorded size (damaged storage), so it serves none of them: a small blob gets this answer; a large one, whose headers went out first, ends with the connection closed before its last bytes. Logged at error with the digest. Its stored bytes must be repaired: restored from a backup, or on the filesystem replaced by pushing the same blob again.' },
  // Notary v1's codes (Docker Content Trust), with Notary's spelling and messages: its clients parse them.
  METADATA_NOT_FOUND: { status: 404, message: 'You have requested metadata that does not exist.', description: 'Trust metadata (a role, a version or a checksum) that the repository does not have; a 404 for root.json means the repository has no trust data.' },
  INVALID_UPDATE: { status: 400, message: 'Update sent by the client is invalid.', description: 'A trust publish failed validation; detail is {"Name": ErrBadRoot|ErrBadTargets|ErrBadSnapshot|ErrBadHierarchy|ErrValidation, "Error": {"Msg": …}}, which clients turn back into typed errors.' },
  VERSION: { status: 400, message: 'A newer version of metadata is already available.', description: 'A trust publish carried a role version not above the stored one, or lost a race with another publish to the same repository.' },
  MALFORMED_UPLOAD: { status: 400, message: 'The body of your request is malformed.', description: 'A trust publish whose body is not multipart/form-data.' },
  INVALID_ROLE: { status: 400, message: 'The role you are attempting to operate on is invalid.', description: 'A trust publish part or key request names no valid role; the detail is the name.' },
  MALFORMED_JSON: { status: 400, message: 'JSON sent by the client could not be parsed by the server', description: 'A trust metadata part is not JSON with signed.version.' },
  NO_FILENAME: { status: 400, message: 'No file/role name provided.', description: 'A trust publish part has an empty filename.' },
  UNKNOWN: { status: 500, message: 'unknown error', description: 'An internal error; details are logged, never sent to the client.' },
} as const satisfies Record<string, { status: number; message: string; description: string; wire?: string }>;

export type ErrorCode = keyof typeof errorCatalog;

/** The code a client sees in the error body: the spec's code for entries that are one case of it, else the entry's own. */
export function wireCode(code: ErrorCode): string {
  const entry = errorCatalog[code];
  return 'wire' in entry ? entry.wire : code;
}
