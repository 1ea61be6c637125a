/**
 * Prometheus metrics. One Registry per server instance (never prom-client's global default), so several
 * servers in one process — tests, benchmarks — keep separate counts.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CloseReason } from './gateway/connection.js';
import type { AdmissionMetrics } from './gateway/admission.js';
import type { GatewayMetrics } from './gateway/gateway.js';
import type { ServerPlugin } from './plugin.js';

export interface ServerMetrics extends GatewayMetrics {
  readonly registry: Registry;
}

export function createMetrics(sources: {
  sessions: () => number;
  connections: () => number;
  unauthenticated: () => number;
}): ServerMetrics {
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
    ...admissionMetrics(registry, sources.unauthenticated),
  };
}

/** The admission's metrics (docs/operating.md): connections not yet authenticated and what befell them. */
function admissionMetrics(
  registry: Registry,
  unauthenticated: () => number,
): AdmissionMetrics & { helloRefused(): void } {
  new Gauge({
    name: 'localpush_unauthenticated_connections',
    help: 'Connections accepted on any listener (devices, SimplePush, APNs) and not yet authenticated',
    registers: [registry],
    collect() {
      this.set(unauthenticated());
    },
  });
  const helloRefused = new Counter({
    name: 'localpush_hello_refused_total',
    help: 'Hellos refused for an unknown device or a wrong credential (LP_AUTH_FAILED)',
    registers: [registry],
  });
  const refused = new Counter({
    name: 'localpush_unauthenticated_refused_total',
    help: 'New connections refused at the cap on unauthenticated connections, by scope (total, address)',
    labelNames: ['scope'] as const,
    registers: [registry],
  });
  const evicted = new Counter({
    name: 'localpush_unauthenticated_evicted_total',
    help: 'Stale unauthenticated connections dropped to make room at a cap, by scope (total, address)',
    labelNames: ['scope'] as const,
    registers: [registry],
  });
  const expired = new Counter({
    name: 'localpush_hello_deadline_expired_total',
    help: 'Connections closed at the deadline from accept to authentication, by listener',
    labelNames: ['listener'] as const,
    registers: [registry],
  });
  return {
    helloRefused: () => helloRefused.inc(),
    unauthenticatedRefused: (scope) => refused.inc({ scope }),
    unauthenticatedEvicted: (scope) => evicted.inc({ scope }),
    deadlineExpired: (listener) => expired.inc({ listener }),
  };
}

/** GET /metrics (with the provider key), counting the gateway's connections and sessions. */
export const metricsPlugin: ServerPlugin = {
  name: 'metrics',
  setup({ gateway }) {
    const metrics = createMetrics({
      sessions: () => gateway.sessionCount,
      connections: () => gateway.connectionCount,
      unauthenticated: () => gateway.admission.pendingCount,
    });
    return {
      hooks: metrics,
      routes: (api) => {
        api.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
          reply.type(metrics.registry.contentType);
          return metrics.registry.metrics();
        });
      },
    };
  },
};
