/**
 * Prometheus metrics. One Registry per server instance (never prom-client's global default), so several
 * servers in one process — tests, benchmarks — keep separate counts.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CloseReason } from './gateway/connection.js';
import type { GatewayMetrics } from './gateway/gateway.js';

export interface ServerMetrics extends GatewayMetrics {
  readonly registry: Registry;
}

export function createMetrics(sources: { sessions: () => number; connections: () => number }): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'localpush_process_' });
  new Gauge({
    name: 'localpush_device_sessions',
    help: 'Devices with an authenticated session',
    registers: [registry],
    collect() {
      this.set(sources.sessions());
    },
  });
  new Gauge({
    name: 'localpush_device_connections',
    help: 'Open device connections, including those that have not said hello yet',
    registers: [registry],
    collect() {
      this.set(sources.connections());
    },
  });
  const opened = new Counter({
    name: 'localpush_connections_opened_total',
    help: 'Device connections accepted',
    registers: [registry],
  });
  const closed = new Counter({
    name: 'localpush_connections_closed_total',
    help: 'Device connections closed, by reason (peer_closed, peer_error, goaway, destroyed, or a protocol error code)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const replaced = new Counter({
    name: 'localpush_sessions_replaced_total',
    help: 'Sessions replaced by a newer connection of the same device',
    registers: [registry],
  });
  return {
    registry,
    connectionOpened: () => opened.inc(),
    connectionClosed: (reason: CloseReason) =>
      closed.inc({ reason: reason.kind === 'protocol_error' ? reason.code : reason.kind }),
    sessionReplaced: () => replaced.inc(),
  };
}
