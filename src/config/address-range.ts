import { BlockList, isIP } from 'node:net';

/** An address or CIDR range, parsed: `10.0.0.0/8`, `192.168.1.5`, `::1`, `fd00::/8`. */
export interface AddressRange {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses `ADDRESS` or `ADDRESS/PREFIX`; null when it is neither. */
export function parseAddressRange(text: string): AddressRange | null {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return null;
  const v = isIP(address);
  if (v === 0) return null;
  const max = v === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * Whether an address is one of a set of ranges. IPv4 peers that reach a
 * dual-stack socket appear as `::ffff:a.b.c.d`; they match IPv4 ranges.
 */
export function addressMatcher(ranges: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  let any = false;
  for (const text of ranges) {
    const r = parseAddressRange(text);
    if (!r) continue;
    list.addSubnet(r.address, r.prefix, r.family);
    any = true;
  }
  if (!any) return () => false;
  return (address) => {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    const family = isIP(plain) === 4 ? 'ipv4' : isIP(plain) === 6 ? 'ipv6' : null;
    return family !== null && list.check(plain, family);
  };
}
