import type { Store } from '../../../store/index.js';
import type { GuardOptions } from '../guard.js';
import type { StreamLimits } from '../live.js';
import type { HistorySample, RatePoint } from '../../../metrics/history.js';
import type { Operations } from '../../operations.js';
import type { SessionStore } from '../sessions.js';

/** The process's counter history (src/metrics/history.ts MetricsHistory). */
export interface RatesSource {
  rates(): RatePoint[];
  samples(): HistorySample[];
}

/** What every page module of the console gets from the plugin. */
export interface ConsoleContext {
  store: Store;
  /** The operator actions and views the API and CLI use too (src/auc/operations.ts). */
  ops: Operations;
  sessions: SessionStore;
  guard: GuardOptions;
  rates: RatesSource | undefined;
  streams: StreamLimits;
  liveIntervalMs: number;
}
