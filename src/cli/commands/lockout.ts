import { LoginLimiter, type Lockout } from '../../auth/index.js';
import type { BerthConfig } from '../../config/index.js';
import type { MetadataStore } from '../../metadata/index.js';
import { ExitError } from '../exit-error.js';
import { cliActor, output, withStore, type IdentityFlags } from './identity-context.js';

/** A lockout as printed (and as the management API answers it): times as ISO 8601. */
function view(l: Lockout) {
  return { kind: l.kind, user: l.user, address: l.address, failures: l.failures, until: new Date(l.until).toISOString() };
}

const line = (l: ReturnType<typeof view>) => [l.kind, l.user ?? '-', l.address ?? '-', l.failures, l.until].join('\t');

/** Runs `fn` with the login limiter of the configured server, on its database (lockouts exist with any kind of users). */
function withLimiter<T>(flags: IdentityFlags, fn: (limiter: LoginLimiter, store: MetadataStore) => Promise<T>): Promise<T> {
  return withStore(flags, (store, config: BerthConfig) => {
    if (config.auth.kind === 'none') {
      throw new ExitError('this configuration has no auth section, so logins are not limited and nobody is locked out; run the command with the server\'s configuration: --config FILE (or BERTH_CONFIG), or --data-dir DIR', 2);
    }
    return fn(new LoginLimiter({ store: store.loginAttempts, ...config.auth.limits }), store);
  }, { users: false });
}

/** `berth lockout list [--json]`: the current lockouts, shared by every instance. */
export async function lockoutList(flags: IdentityFlags): Promise<void> {
  const shown = (await withLimiter(flags, (limiter) => limiter.lockouts())).map(view);
  output(flags, shown, shown.length === 0 ? 'no lockouts' : shown.map(line).join('\n'));
}

/**
 * `berth lockout clear [--user U] [--address A] [--all]`: clears failed
 * logins on every instance at once (a user's, an address's, a user's at an
 * address, or all), and records it in the audit log.
 */
export async function lockoutClear(flags: IdentityFlags & { user?: string; address?: string; all?: boolean }): Promise<void> {
  const { user, address } = flags;
  if (flags.all && (user !== undefined || address !== undefined)) throw new ExitError('--all clears everything: give it alone, or --user and/or --address without it', 2);
  if (!flags.all && user === undefined && address === undefined) throw new ExitError('say what to clear: --user NAME, --address ADDRESS, both (that user at that address), or --all', 2);
  if (user === '' || address === '') throw new ExitError('--user and --address take a non-empty value', 2);
  const cleared = await withLimiter(flags, async (limiter, store) => {
    const ended = await limiter.clear({ user, address });
    await store.audit.record({
      time: Date.now(), actor: cliActor(), action: 'lockout.clear', target: user ?? address ?? '*', remoteAddress: null,
      outcome: 'success', detail: { user: user ?? null, address: address ?? null, cleared: ended.length },
    });
    return ended.map(view);
  });
  output(flags, { cleared: cleared.length, lockouts: cleared }, [`cleared ${cleared.length} lockout${cleared.length === 1 ? '' : 's'}`, ...cleared.map(line)].join('\n'));
}
