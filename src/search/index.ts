export { searchRoutes, descriptionSchema, type SearchRoutesOptions } from './routes.js';
export { searchIndexListener, SEARCH_EVENT_TYPES } from './listener.js';
export { visibilityFor, type VisibilityOptions } from './visibility.js';
export { searchCaller } from './caller.js';
export { reconcileAtStart, STARTUP_RECONCILE_LEASE, type StartupReconcileOptions } from './reconcile.js';
