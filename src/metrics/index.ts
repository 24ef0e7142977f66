/** Prometheus metrics and health of every role (docs/metrics.md). */
export {
  MetricsRegistry, Counter, Gauge, Histogram, METRICS_CONTENT_TYPE, LATENCY_BUCKETS, CALL_SETUP_BUCKETS, formatValue,
  type Labels, type MetricOptions, type HistogramOptions, type MetricSnapshot, type SeriesValue,
} from './registry.js';
export { MetricsHistory, type HistoryOptions, type HistorySample, type RatePoint } from './history.js';
export { startMetricsServer, type MetricsServer } from './server.js';
export { Health, ListenerError, diskCheck, healthAnswer, listenAddress, startListener, type HealthCheck, type HealthReport, type ListenerHealth } from './health.js';
