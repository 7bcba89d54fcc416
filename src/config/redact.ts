/** Query parameters that carry a secret in a libpq-style URL. */
const SECRET_PARAMS = new Set(['password', 'sslpassword']);

/**
 * A URL as it may be logged or printed: the password (in the user part or in
 * a `password=` query parameter) replaced by `***`. A URL that cannot be
 * parsed is not shown at all, since its password could not be found.
 *
 * @example
 * redactUrl('postgres://berth:s3cret@db:5432/berth') // 'postgres://berth:***@db:5432/berth'
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(unparseable URL, not shown)';
  }
  if (u.password !== '') u.password = '***';
  for (const key of [...u.searchParams.keys()]) {
    if (SECRET_PARAMS.has(key.toLowerCase())) u.searchParams.set(key, '***');
  }
  return u.toString();
}
