import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** The edge's metrics; names are documented in the README. */
export interface EdgeMetrics {
  readonly sockets: Gauge;
  readonly requests: Counter<"outcome">;
  readonly active: Gauge;
  readonly chunks: Counter;
  readonly bytes: Counter;
  readonly errors: Counter<"code">;
  readonly resumes: Counter<"outcome">;
  readonly ackLagSeconds: Histogram;
  readonly natsConnected: Gauge;
}

export function createEdgeMetrics(registry: Registry): EdgeMetrics {
  const registers = [registry];
  return {
    sockets: new Gauge({ name: "sluice_edge_sockets", help: "Open websocket connections", registers }),
    requests: new Counter({ name: "sluice_edge_requests_total", help: "Requests finished, by outcome", labelNames: ["outcome"], registers }),
    active: new Gauge({ name: "sluice_edge_active_requests", help: "Requests being relayed now", registers }),
    chunks: new Counter({ name: "sluice_edge_chunks_total", help: "Chunks relayed to clients", registers }),
    bytes: new Counter({ name: "sluice_edge_chunk_bytes_total", help: "Chunk payload bytes relayed to clients", registers }),
    errors: new Counter({ name: "sluice_edge_errors_total", help: "Error frames sent, by code", labelNames: ["code"], registers }),
    resumes: new Counter({
      name: "sluice_edge_resumed_requests_total",
      help: "Requests a reconnected client asked to continue, by outcome (resumed, failed)",
      labelNames: ["outcome"],
      registers,
    }),
    ackLagSeconds: new Histogram({
      name: "sluice_edge_ack_lag_seconds",
      help: "Time from sending a chunk to the client's ack of it",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    natsConnected: new Gauge({ name: "sluice_edge_nats_connected", help: "1 while the NATS connection is up", registers }),
  };
}
