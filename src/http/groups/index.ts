import type { RouteGroup } from '../route-table.js';
import { healthRoutes } from './health.js';
import { managementRoutes } from './management.js';
import { registryRoutes } from './registry.js';
import { tokenRoutes } from './token.js';

export { healthRoutes, managementRoutes, registryRoutes, tokenRoutes };

/** Berth's own route groups, in matching order. Features add theirs after these (see createRegistryServer). */
export const coreRouteGroups: readonly RouteGroup[] = [healthRoutes, tokenRoutes, registryRoutes, managementRoutes];
