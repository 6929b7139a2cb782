import { Counter, Gauge, type Registry } from "prom-client";

/** The edge's metrics; names are documented in the README. */
export interface EdgeMetrics {
  readonly sockets: Gauge;
  readonly requests: Counter<"outcome">;
  readonly active: Gauge;
  readonly chunks: Counter;
  readonly bytes: Counter;
  readonly errors: Counter<"code">;
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
  };
}
