import type { IncomingMessage, ServerResponse } from "node:http";
import { collectDefaultMetrics, Registry } from "prom-client";

export interface Health {
  /** Alive: the process works (event loop turning). */
  live(): boolean;
  /** Ready: it can take work now (connected to its dependencies). */
  ready(): boolean;
}

/** A metrics registry of its own per service instance, with Node's process metrics. */
export function createRegistry(prefix: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return registry;
}

/**
 * Serves /healthz, /readyz and /metrics. Returns false for any other path so the caller can
 * answer it (or 404).
 */
export function handleOpsRequest(req: IncomingMessage, res: ServerResponse, health: Health, registry: Registry): boolean {
  const path = (req.url ?? "/").split("?")[0];
  switch (path) {
    case "/healthz":
      reply(res, health.live() ? 200 : 503, health.live() ? "ok\n" : "unhealthy\n");
      return true;
    case "/readyz":
      reply(res, health.ready() ? 200 : 503, health.ready() ? "ready\n" : "not ready\n");
      return true;
    case "/metrics":
      registry.metrics().then(
        (text) => reply(res, 200, text, registry.contentType),
        () => reply(res, 500, "metrics failed\n"),
      );
      return true;
    default:
      return false;
  }
}

function reply(res: ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}
