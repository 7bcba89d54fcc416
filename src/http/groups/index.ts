import type { RouteGroup } from '../route-table.js';
import { healthRoutes } from './health.js';
import { managementRoutes } from './management.js';
import { registryRoutes } from './registry.js';
import { tokenRoutes } from './token.js';

export { healthRoutes, managementRoutes, registryRoutes, tokenRoutes };

/** Berth's own route groups, in matching order. Features add theirs after these (see createRegistryServer). */
export const coreRouteGroups: readonly RouteGroup[] = [healthRoutes, tokenRoutes, registryRoutes, managementRoutes];

/**
 * What a listener serving only feature groups (the Notary API on trust.addr)
 * keeps of the core: health, the token endpoint, and the /v2/ version check
 * that clients call first to learn how to authenticate.
 */
export const frontRouteGroups: readonly RouteGroup[] = [
  healthRoutes,
  tokenRoutes,
  { ...registryRoutes, name: 'registry-base', routes: registryRoutes.routes.filter((r) => r.name === 'base.get' || r.name === 'base.head') },
];
