export { createRegistryServer, createRequestHandler, type RegistryServer, type RegistryServerOptions } from './server.js';
export type { HttpServices, RequestContext, Handler, RequestObserver } from './context.js';
export { RoutePath, paths, type RouteMatch } from './routes.js';
export { RouteTable, fillPath, ACCESS_KINDS, type Access, type AccessKind, type Method, type Route, type RouteDoc, type RouteGroup, type RouteParams } from './route-table.js';
export { coreRouteGroups, healthRoutes, managementRoutes, registryRoutes, tokenRoutes } from './groups/index.js';
export { openApiDocument, openApiPath } from './openapi.js';
export { readBoundedBody, readJsonBody } from './body.js';
export { sendEmpty, sendJson } from './respond.js';
