import { randomInt } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { Names } from "@sluice/broker";

/**
 * How many requests of one tenant run at once, across every worker: a tenant has `limit` slots,
 * each a key `<tenant>.<n>` in a JetStream key-value bucket, taken with an atomic create. A worker
 * holding a slot refreshes it with each heartbeat of its request; the slot of a worker that died
 * expires after `ttlMs` without refresh.
 */
export class TenantSlots {
  private constructor(
    private readonly kv: KV,
    private readonly limit: number,
  ) {}

  static async open(js: JetStreamClient, names: Names, options: { limit: number; ttlMs: number; replicas: number }): Promise<TenantSlots> {
    const kv = await new Kvm(js).create(names.tenantSlotsBucket, { history: 1, ttl: options.ttlMs, replicas: options.replicas });
    return new TenantSlots(kv, options.limit);
  }

  /** A slot of `tenant` for `requestKey`, or undefined when all of the tenant's slots are taken. */
  async acquire(tenant: string, requestKey: string): Promise<TenantSlot | undefined> {
    // Starting at a random slot spreads the attempts of many workers over the keys.
    const first = randomInt(this.limit);
    for (let i = 0; i < this.limit; i++) {
      const key = `${tenant}.${(first + i) % this.limit}`;
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
