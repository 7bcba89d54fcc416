/**
 * Go's time formats as notary uses them.
 *
 * - `expires` is written by `time.Time.MarshalJSON`: RFC 3339 with up to nine
 *   fraction digits, trailing zeros (and a lone `.`) removed, `Z` for UTC.
 * - It is read by `time.Parse(time.RFC3339, …)`: `YYYY-MM-DDTHH:MM:SS`, an
 *   optional fraction of any length (truncated to nanoseconds), then `Z` or
 *   `±hh:mm`. Upper-case `T` and `Z` only; fields are range-checked (no leap
 *   second, no 31 April).
 * - Expiry errors print `Format("Mon Jan 2 15:04:05 MST 2006")`.
 */

/** An RFC 3339 time as Go parsed it. */
export interface GoTime {
  /** The instant, to the millisecond (JavaScript's precision). */
  date: Date;
  /** Nanoseconds within the second, as written (0–999 999 999). */
  nanos: number;
  /** The written UTC offset in minutes (`Z` is 0). */
  offsetMinutes: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Parses an RFC 3339 timestamp as Go's `time.Parse(time.RFC3339, s)` accepts it; `undefined` where Go fails. */
export function parseGoTime(text: string): GoTime | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const nanos = Number(((m[7] ?? '') + '000000000').slice(0, 9));
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, Math.floor(nanos / 1e6));
  return { date: new Date(d.getTime() - offsetMinutes * 60_000), nanos, offsetMinutes };
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * `date` in UTC as Go's RFC3339Nano (`time.Time.MarshalJSON`) writes it, with
 * trailing zeros of the fraction trimmed: `2029-11-21T23:01:16.378Z`,
 * `2029-11-21T23:01:16Z`. Throws for years outside 0–9999, which Go refuses
 * to marshal.
 *
 * @example goTime(new Date(Date.UTC(2029, 10, 21, 23, 1, 16, 370))) // '2029-11-21T23:01:16.37Z'
 */
export function goTime(date: Date): string {
  const t = date.getTime();
  if (!Number.isFinite(t)) throw new RangeError('invalid date');
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError(`year ${year} outside 0–9999`);
  const ms = date.getUTCMilliseconds();
  const fraction = ms === 0 ? '' : `.${pad(ms, 3).replace(/0+$/, '')}`;
  return `${pad(year, 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}T${pad(date.getUTCHours(), 2)}:${pad(
    date.getUTCMinutes(),
    2,
  )}:${pad(date.getUTCSeconds(), 2)}${fraction}Z`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Go's `t.Format("Mon Jan 2 15:04:05 MST 2006")`, the form of notary's
 * "targets expired at Sat Nov 21 23:04:51 UTC 2026". The time is shown in the
 * offset it was written with; the zone is `UTC` for offset 0 (Go parses `Z`
 * to UTC, and `+00:00` to Local, which is UTC on a server) and `±hhmm`
 * otherwise (Go's fixed zone without a name).
 */
export function goDateString(date: Date, offsetMinutes = 0): string {
  const d = new Date(date.getTime() + offsetMinutes * 60_000);
  const abs = Math.abs(offsetMinutes);
  const zone = offsetMinutes === 0 ? 'UTC' : `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60), 2)}${pad(abs % 60, 2)}`;
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(
    d.getUTCSeconds(),
    2,
  )} ${zone} ${pad(d.getUTCFullYear(), 4)}`;
}
