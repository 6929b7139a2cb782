import { randomUUID } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Names } from "@sluice/broker";
import type { Relay } from "./relay.js";

/** A session whose socket is open on this edge, as the registry sees it. */
export interface ActiveSession {
  /** The session was resumed on another socket: let its requests go (untouched) and close. */
  yieldTo(): Promise<void>;
}

interface Detached {
  readonly relays: Map<string, Relay>;
  readonly timer: NodeJS.Timeout;
}

/**
 * Where each session lives, so that it lives in one place at a time. Sessions whose socket closed
 * are kept for the grace period, so their client can resume them here or on any other edge. An
 * edge taking a session over says so on the session's takeover subject; every edge hears it, and
 * the one holding the session, detached or still open (its socket not yet known to be dead),
 * lets its requests go without touching their data.
 */
export class SessionRegistry {
  readonly #detached = new Map<string, Detached>();
  readonly #active = new Map<string, ActiveSession>();
  /** Tells this edge's own takeover announcements from other edges'. */
  readonly #edgeId = randomUUID();
  readonly #subscription: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: Names,
    private readonly graceMs: number,
  ) {
    this.#subscription = nc.subscribe(names.takeoverSubject("*"), {
      callback: (_error, msg) => {
        if (msg.string() === this.#edgeId) return;
        const session = msg.subject.slice(names.takeoverSubject("").length);
        void this.#letGo(session);
      },
    });
  }

  /** `session` is open on this edge in `holder`. */
  activate(session: string, holder: ActiveSession): void {
    this.#active.set(session, holder);
  }

  /** `holder` no longer holds `session` (its socket closed). */
  deactivate(session: string, holder: ActiveSession): void {
    if (this.#active.get(session) === holder) this.#active.delete(session);
  }

  /** Holds a closed session's requests; they are abandoned if nobody resumes them in time. */
  async detach(session: string, relays: Map<string, Relay>): Promise<void> {
    if (relays.size === 0) return;
    if (this.graceMs === 0) {
      await Promise.allSettled([...relays.values()].map((relay) => relay.abandon()));
      return;
    }
    for (const relay of relays.values()) relay.detach();
    const timer = setTimeout(() => void this.#settle(session, "abandon"), this.graceMs);
    this.#detached.set(session, { relays, timer });
  }

  /**
   * A client resumes `session` on this edge with `holder`: other edges let it go, a socket of it
   * still open here yields, and the requests this edge held for it, if any, are handed over.
   */
  async takeover(session: string, holder: ActiveSession): Promise<Map<string, Relay>> {
    this.nc.publish(this.names.takeoverSubject(session), this.#edgeId);
    const previous = this.#active.get(session);
    if (previous !== undefined && previous !== holder) {
      this.#active.delete(session);
      await previous.yieldTo();
    }
    const entry = this.#take(session);
    return entry?.relays ?? new Map();
  }

  /** Another edge took `session` over: whatever this edge holds of it goes, untouched. */
  async #letGo(session: string): Promise<void> {
    const active = this.#active.get(session);
    if (active !== undefined) {
      this.#active.delete(session);
      await active.yieldTo();
    }
    await this.#settle(session, "release");
  }

  #take(session: string): Detached | undefined {
    const entry = this.#detached.get(session);
    if (!entry) return undefined;
    this.#detached.delete(session);
    clearTimeout(entry.timer);
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
    this.#subscription.unsubscribe();
    await Promise.allSettled([...this.#detached.keys()].map((session) => this.#settle(session, "release")));
  }
}
