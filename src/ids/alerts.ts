/**
 * Where a detection goes: one structured log line (rule, partner, reason,
 * action), Prometheus metrics, and optionally a webhook (JSON POST). Each is
 * bounded: a spray from many sources cannot turn into a log, label or HTTP
 * flood (lines and webhook posts per second are capped; the rest counted).
 */
import type { Logger } from 'pino';
import type { MetricsRegistry } from '../metrics/registry.js';
import type { IdsEngine } from './engine.js';
import type { Detection } from './types.js';

export const IDS_METRICS = {
  detections: 'keyswitch_ids_detections_total',
  blocks: 'keyswitch_ids_blocks_total',
  blocked: 'keyswitch_ids_blocked',
  partners: 'keyswitch_ids_partners',
  drops: 'keyswitch_ids_dropped_total',
  reloads: 'keyswitch_ids_rule_reloads_total',
  webhookLost: 'keyswitch_ids_webhook_failures_total',
} as const;

export interface AlertOptions {
  logger?: Pick<Logger, 'warn' | 'info'> | undefined;
  metrics?: MetricsRegistry | undefined;
  /** POST each detection as JSON here (http or https). */
  webhook?: string | undefined;
  linesPerSecond?: number;
  postsPerSecond?: number;
}

/** Rate cap per second; returns true when this one may go. */
function perSecond(max: number): { take(): boolean; dropped: number } {
  let second = 0;
  let n = 0;
  return {
    dropped: 0,
    take() {
      const s = Math.floor(Date.now() / 1000);
      if (s !== second) {
        second = s;
        n = 0;
      }
      if (++n <= max) return true;
      this.dropped++;
      return false;
    },
  };
}

export function detectionSink(o: AlertOptions): (d: Detection) => void {
  const lines = perSecond(o.linesPerSecond ?? 50);
  const posts = perSecond(o.postsPerSecond ?? 10);
  const detections = o.metrics?.counter(IDS_METRICS.detections, 'Intrusion detections by rule, type and protocol', { labelNames: ['rule', 'type', 'protocol'], maxSeries: 2000 });
  const blocks = o.metrics?.counter(IDS_METRICS.blocks, 'Blocks made by the intrusion detection, by scope', { labelNames: ['scope'] });
  const lost = o.metrics?.counter(IDS_METRICS.webhookLost, 'Detections not delivered to the webhook (failed, or over the rate cap)');
  let inFlight = 0;
  return (d) => {
    detections?.inc({ rule: d.rule, type: d.type, protocol: d.protocol });
    if (d.block) blocks?.inc({ scope: d.block.scope });
    if (lines.take()) {
      const skipped = lines.dropped;
      o.logger?.warn(
        {
          event: 'ids-detection', rule: d.rule, type: d.type, partner: d.partner, reason: d.reason, action: d.actions.join(','), protocol: d.protocol, source: d.source,
          ...(d.identity !== undefined ? { identity: d.identity } : {}),
          ...(d.block ? { blocked: d.block.target, scope: d.block.scope, until: new Date(d.block.until).toISOString() } : {}),
          ...(skipped ? { linesSkipped: skipped } : {}),
        },
        'ids: detection',
      );
      lines.dropped = 0;
    }
    if (o.webhook) {
      if (!posts.take() || inFlight >= 20) {
        lost?.inc();
        return;
      }
      inFlight++;
      fetch(o.webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...d, at: new Date(d.at).toISOString() }), signal: AbortSignal.timeout(3000) })
        .then((r) => {
          if (!r.ok) lost?.inc();
          return r.body?.cancel();
        })
        .catch(() => lost?.inc())
        .finally(() => inFlight--);
    }
  };
}

/** Gauges read at scrape time and the engine's drop totals. */
export function idsGauges(metrics: MetricsRegistry, ids: () => IdsEngine | undefined): void {
  if (metrics.get(IDS_METRICS.blocked)) return;
  metrics.gauge(IDS_METRICS.blocked, 'Blocks in force, by scope', { labelNames: ['scope'] }).onCollect((g) => {
    const counts: Record<string, number> = { flow: 0, address: 0, identity: 0 };
    for (const b of ids()?.blocks() ?? []) counts[b.scope] = (counts[b.scope] ?? 0) + 1;
    for (const [scope, n] of Object.entries(counts)) g.set(n, { scope });
  });
  metrics.gauge(IDS_METRICS.partners, 'Partners the intrusion detection tracks, by kind', { labelNames: ['kind'] }).onCollect((g) => {
    const s = ids()?.sizes();
    g.set(s?.flows ?? 0, { kind: 'flow' });
    g.set(s?.addresses ?? 0, { kind: 'address' });
    g.set(s?.identities ?? 0, { kind: 'identity' });
  });
  const drops = metrics.counter(IDS_METRICS.drops, 'Messages the intrusion detection dropped or answered itself, by why', { labelNames: ['why'] });
  metrics.follow(drops, 'why', () => {
    const t = ids()?.totals;
    return t && { blocked: t.blockedDrops, rule: t.dropped, answered: t.answered };
  });
}
