import type { Gauge } from "prom-client";
import type { Logger } from "./logger.js";

/** What this module reads of a NATS connection (structural, so the runtime needs no NATS client). */
export interface NatsStatusSource {
  status(): AsyncIterable<{ readonly type: string }>;
}

/**
 * Follows a NATS connection: logs each loss and return, and keeps `connected` at 1 while the
 * connection is up and 0 while it is down or closed.
 */
export function watchNats(nc: NatsStatusSource, connected: Gauge, logger: Logger): void {
  connected.set(1);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        connected.set(0);
        logger.warn("NATS connection lost; reconnecting");
      } else if (status.type === "reconnect") {
        connected.set(1);
        logger.info("NATS connection back");
      }
    }
    connected.set(0);
  })();
}
