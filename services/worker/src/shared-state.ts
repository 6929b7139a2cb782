import { randomInt } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { Names } from "@sluice/broker";

/**
 * What the workers share, in a JetStream key-value bucket whose entries expire after `ttlMs`
 * without an update: the slots of each tenant's running requests, and how often each request was
 * started.
 */
export async function openSharedState(js: JetStreamClient, names: Names, options: { ttlMs: number; replicas: number }): Promise<KV> {
  return new Kvm(js).create(names.workerStateBucket, { history: 1, ttl: options.ttlMs, replicas: options.replicas });
}

/**
 * How many requests of one tenant run at once, across every worker: a tenant has `limit` slots,
 * each a key `slot.<tenant>.<n>`, taken with an atomic create. A worker holding a slot refreshes
 * it with each heartbeat of its request; the slot of a worker that died expires.
 */
export class TenantSlots {
  constructor(
    private readonly kv: KV,
    private readonly limit: number,
  ) {}

  /** A slot of `tenant` for `requestKey`, or undefined when all of the tenant's slots are taken. */
  async acquire(tenant: string, requestKey: string): Promise<TenantSlot | undefined> {
    // Starting at a random slot spreads the attempts of many workers over the keys.
    const first = randomInt(this.limit);
    for (let i = 0; i < this.limit; i++) {
      const key = `slot.${tenant}.${(first + i) % this.limit}`;
      try {
        const revision = await this.kv.create(key, requestKey);
        return new TenantSlot(this.kv, key, requestKey, revision);
      } catch {
        // taken: try the next one
      }
    }
    return undefined;
  }
}

export class TenantSlot {
  constructor(
    private readonly kv: KV,
    private readonly key: string,
    private readonly requestKey: string,
    private revision: number,
  ) {}

  /** Keeps the slot from expiring; a slot lost meanwhile (expired and taken) is left alone. */
  async refresh(): Promise<void> {
    try {
      this.revision = await this.kv.update(this.key, this.requestKey, this.revision);
    } catch {
      // expired and taken by another request: that one holds it now
    }
  }

  async release(): Promise<void> {
    await this.kv.delete(this.key, { previousSeq: this.revision }).catch(() => undefined);
  }
}

/**
 * Counts the later starts of requests (key `runs.<request key>`): a request whose worker died is
 * started again by another, and one that stops every worker that starts it must not go round
 * forever. First starts are not written down (most requests have only one).
 */
export class RunCounter {
  constructor(private readonly kv: KV) {}

  /** Counts one more start of a request delivered again and returns its starts so far (≥ 2). */
  async started(requestKey: string): Promise<number> {
    const key = `runs.${requestKey}`;
    for (let attempt = 0; ; attempt++) {
      const entry = await this.kv.get(key);
      const previous = entry && entry.operation === "PUT" ? Number(entry.string()) : 1;
      try {
        if (entry) await this.kv.update(key, String(previous + 1), entry.revision);
        else await this.kv.create(key, String(previous + 1));
        return previous + 1;
      } catch (error) {
        if (attempt >= 2) throw error; // another worker counted at the same moment: read again
      }
    }
  }
}
