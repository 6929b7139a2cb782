import { randomUUID } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Names } from "@sluice/broker";
import type { Relay } from "./relay.js";

interface Detached {
  readonly relays: Map<string, Relay>;
  readonly timer: NodeJS.Timeout;
  readonly subscription: Subscription;
}

/**
 * Sessions whose socket closed, kept for the grace period so their client can resume them here or
 * on any other edge. Edges tell each other of a resume on the session's takeover subject; the
 * edge holding the session then lets its requests go without touching their data.
 */
export class SessionRegistry {
  readonly #detached = new Map<string, Detached>();
  /** Tells this edge's own takeover announcements from other edges'. */
  readonly #edgeId = randomUUID();

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: Names,
    private readonly graceMs: number,
  ) {}

  /** Holds a closed session's requests; they are abandoned if nobody resumes them in time. */
  async detach(session: string, relays: Map<string, Relay>): Promise<void> {
    if (relays.size === 0) return;
    if (this.graceMs === 0) {
      await Promise.allSettled([...relays.values()].map((relay) => relay.abandon()));
      return;
    }
    for (const relay of relays.values()) relay.detach();
    const subscription = this.nc.subscribe(this.names.takeoverSubject(session), {
      callback: (_error, msg) => {
        if (msg.string() !== this.#edgeId) void this.#settle(session, "release");
      },
    });
    const timer = setTimeout(() => void this.#settle(session, "abandon"), this.graceMs);
    this.#detached.set(session, { relays, timer, subscription });
  }

  /**
   * A client resumes `session` on this edge: other edges let it go, and the requests this edge
   * held for it, if any, are handed over.
   */
  takeover(session: string): Map<string, Relay> {
    this.nc.publish(this.names.takeoverSubject(session), this.#edgeId);
    const entry = this.#take(session);
    return entry?.relays ?? new Map();
  }

  #take(session: string): Detached | undefined {
    const entry = this.#detached.get(session);
    if (!entry) return undefined;
    this.#detached.delete(session);
    clearTimeout(entry.timer);
    entry.subscription.unsubscribe();
    return entry;
  }

  async #settle(session: string, how: "release" | "abandon"): Promise<void> {
    const entry = this.#take(session);
    if (!entry) return;
    await Promise.allSettled([...entry.relays.values()].map((relay) => (how === "release" ? relay.release() : relay.abandon())));
  }

  /**
   * The edge is shutting down: its clients were told to reconnect elsewhere, so held requests
   * are let go, not cancelled; a worker whose client never returns gives up at its idle timeout.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#detached.keys()].map((session) => this.#settle(session, "release")));
  }
}
