/** Prometheus text-format metrics (docs/header-signing.md, "Metrics"). */
export { MetricsRegistry, Counter, Gauge, METRICS_CONTENT_TYPE, formatValue, type Labels, type MetricOptions } from './registry.js';
export { startMetricsServer, type MetricsServer } from './server.js';
export { Health, ListenerError, diskCheck, healthAnswer, listenAddress, startListener, type HealthCheck, type HealthReport, type ListenerHealth } from './health.js';
