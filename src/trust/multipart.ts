/**
 * The multipart/form-data body of a Notary publish (`POST
 * /v2/<gun>/_trust/tuf/`): one part per role, the role in the part's
 * `filename` (which contains `/` for delegations, `targets/releases`, so it
 * is read raw, never reduced to a base name), the exact metadata bytes as
 * the part's body. The body is already read and bounded by the caller.
 */
export interface MultipartPart {
  /** The Content-Disposition `name` parameter (Notary sends `files`). */
  name: string | null;
  /** The raw `filename` parameter, or null when absent; `''` when empty. */
  filename: string | null;
  data: Buffer;
}

export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MultipartError';
  }
}

/** The boundary of a `multipart/form-data; boundary=…` Content-Type, or null when the type is anything else. */
export function multipartBoundary(contentType: string | undefined): string | null {
  if (!contentType) return null;
  const [type, ...params] = contentType.split(';');
  if (type?.trim().toLowerCase() !== 'multipart/form-data') return null;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() !== 'boundary') continue;
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    // RFC 2046: 1 to 70 characters.
    return v.length >= 1 && v.length <= 70 ? v : null;
  }
  return null;
}

/** A header parameter's value (`filename="targets/releases"`), quoted or not, raw. */
function parameter(header: string, name: string): string | null {
  const re = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i');
  const m = re.exec(header);
  if (!m) return null;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? '');
}

/** Splits a multipart body into its parts. Throws MultipartError when it is not a well-formed multipart body. */
export function parseMultipart(body: Buffer, boundary: string, maxParts = 64): MultipartPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new MultipartError('no boundary in the body');
  const parts: MultipartPart[] = [];
  for (;;) {
    pos += delimiter.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // closing delimiter
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    else if (body[pos] === 0x0a) pos += 1;
    else throw new MultipartError('malformed boundary line');
    const headerEnd = findHeaderEnd(body, pos);
    if (headerEnd === null) throw new MultipartError('part headers do not end');
    const headers = body.subarray(pos, headerEnd.start).toString('latin1');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd.end);
    const nextLf = next < 0 ? body.indexOf(Buffer.concat([Buffer.from('\n'), delimiter]), headerEnd.end) : -1;
    if (next < 0 && nextLf < 0) throw new MultipartError('a part is not closed by a boundary');
    const dataEnd = next >= 0 ? next : nextLf;
    let disposition = '';
    for (const line of headers.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'content-disposition') disposition = line.slice(colon + 1);
    }
    // Filenames are UTF-8 bytes carried in a latin1-decoded header.
    const filename = parameter(disposition, 'filename');
    parts.push({
      name: parameter(disposition, 'name'),
      filename: filename === null ? null : Buffer.from(filename, 'latin1').toString('utf8'),
      data: body.subarray(headerEnd.end, dataEnd),
    });
    if (parts.length > maxParts) throw new MultipartError(`more than ${maxParts} parts`);
    pos = dataEnd + (next >= 0 ? 2 : 1);
  }
}

function findHeaderEnd(body: Buffer, from: number): { start: number; end: number } | null {
  const crlf = body.indexOf('\r\n\r\n', from);
  const lf = body.indexOf('\n\n', from);
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { start: crlf, end: crlf + 4 };
  if (lf >= 0) return { start: lf, end: lf + 2 };
  return null;
}
