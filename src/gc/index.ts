export { GarbageCollector, unneededManifests, type CollectorOptions, type GcReport, type RunOptions } from './collector.js';
export { gcRoutes, type GcRoutesOptions } from './routes.js';
