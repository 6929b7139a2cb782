import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** The worker's metrics; names are documented in the README. */
export interface WorkerMetrics {
  readonly requests: Counter<"outcome">;
  readonly active: Gauge;
  readonly leases: Gauge;
  readonly chunks: Counter;
  readonly bytes: Counter;
  readonly errors: Counter<"code">;
  readonly firstChunkSeconds: Histogram;
  readonly recoveries: Counter;
  readonly natsConnected: Gauge;
  readonly leasesDiscarded: Counter<"reason">;
  readonly tenantWaits: Counter;
  readonly auditRecords: Counter;
  readonly auditFailures: Counter;
}

/** What the pool metrics read of a connection pool. */
interface PoolStats {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** Metrics of the worker; the pools' gauges are read from `pools` at each scrape. */
export function createWorkerMetrics(registry: Registry, pools: ReadonlyMap<string, PoolStats> = new Map()): WorkerMetrics {
  const registers = [registry];
  new Gauge({
    name: "sluice_worker_leases_waiting",
    help: "Requests waiting for a database connection",
    registers,
    collect() {
      this.set([...pools.values()].reduce((sum, pool) => sum + pool.waitingCount, 0));
    },
  });
  new Gauge({
    name: "sluice_worker_pool_connections",
    help: "Open database connections by database and state (busy, idle)",
    labelNames: ["database", "state"],
    registers,
    collect() {
      for (const [database, pool] of pools) {
        this.set({ database, state: "busy" }, pool.totalCount - pool.idleCount);
        this.set({ database, state: "idle" }, pool.idleCount);
      }
    },
  });
  return {
    leasesDiscarded: new Counter({
      name: "sluice_worker_leases_discarded_total",
      help: "Connections closed after a lease instead of reused: broken, or left with state (leftovers)",
      labelNames: ["reason"],
      registers,
    }),
    tenantWaits: new Counter({
      name: "sluice_worker_tenant_waits_total",
      help: "Requests sent back to the queue because their tenant ran as many requests as it may",
      registers,
    }),
    auditRecords: new Counter({ name: "sluice_worker_audit_records_total", help: "Audit records written to the audit database", registers }),
    auditFailures: new Counter({
      name: "sluice_worker_audit_write_failures_total",
      help: "Audit database writes that failed (the records are retried)",
      registers,
    }),
    natsConnected: new Gauge({ name: "sluice_worker_nats_connected", help: "1 while the NATS connection is up", registers }),
    requests: new Counter({ name: "sluice_worker_requests_total", help: "Requests finished, by outcome", labelNames: ["outcome"], registers }),
    active: new Gauge({ name: "sluice_worker_active_requests", help: "Requests running now", registers }),
    leases: new Gauge({ name: "sluice_worker_leases_in_use", help: "Database connections leased to requests", registers }),
    chunks: new Counter({ name: "sluice_worker_chunks_total", help: "Chunks published", registers }),
    bytes: new Counter({ name: "sluice_worker_chunk_bytes_total", help: "Chunk payload bytes published", registers }),
    errors: new Counter({ name: "sluice_worker_errors_total", help: "Requests failed, by error code", labelNames: ["code"], registers }),
    recoveries: new Counter({ name: "sluice_worker_recoveries_total", help: "Requests continued after their worker stopped", registers }),
    firstChunkSeconds: new Histogram({
      name: "sluice_worker_first_chunk_seconds",
      help: "Time from lease request to first chunk stored",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
  };
}
