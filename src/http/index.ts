export { createRegistryServer, createRequestHandler, type RegistryServer } from './server.js';
export type { HttpServices, RequestContext } from './context.js';
export { RouteName, matchRoute, paths } from './routes.js';
