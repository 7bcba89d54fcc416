export { BerthMetrics, METRIC_EVENT_TYPES, type BerthMetricsOptions, type GcRunSummary, type StorageTotals } from './metrics.js';
export { metricsRoutes, type MetricsAccess } from './routes.js';
