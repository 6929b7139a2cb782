import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { connect as connectNats, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { natsNames } from "@sluice/broker";
import { openSharedState, RunCounter, TenantSlots } from "../services/worker/src/shared-state.js";
import { obtainTestServices, testPrefix } from "./fixtures/services.js";

/** The state workers share in NATS, against a real JetStream: tenant slots and start counts. */

const TTL_MS = 1_500;
let nc: NatsConnection;
let kv: KV;
const names = natsNames(testPrefix());

beforeAll(async () => {
  nc = await connectNats({ servers: (await obtainTestServices()).natsUrl });
  kv = await openSharedState(jetstream(nc), names, { ttlMs: TTL_MS, replicas: 1 });
});

afterAll(async () => {
  await (await jetstreamManager(nc)).streams.delete(`KV_${names.workerStateBucket}`).catch(() => false);
  await nc.close();
});

describe("shared worker state", () => {
  test("tenant slots - a tenant gets `limit` slots, then none until one is released; tenants do not share", async () => {
    const slots = new TenantSlots(kv, 2);
    const first = await slots.acquire("acme", "s.q1");
    const second = await slots.acquire("acme", "s.q2");
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(await slots.acquire("acme", "s.q3")).toBeUndefined();
    expect(await slots.acquire("globex", "s.q4")).toBeDefined();
    await first!.release();
    const third = await slots.acquire("acme", "s.q3");
    expect(third).toBeDefined();
    expect(await slots.acquire("acme", "s.q5")).toBeUndefined();
    await Promise.all([second!.release(), third!.release()]);
  });

  test("tenant slots - many workers racing for one slot: exactly one wins", async () => {
    const slots = new TenantSlots(kv, 1);
    const won = await Promise.all(Array.from({ length: 8 }, (_, i) => slots.acquire("initech", `s.r${i}`)));
    expect(won.filter((slot) => slot !== undefined)).toHaveLength(1);
    await won.find((slot) => slot !== undefined)!.release();
  });

  test("tenant slots - a slot its worker stopped refreshing (the worker died) expires; a refreshed one does not", async () => {
    const slots = new TenantSlots(kv, 1);
    const kept = await slots.acquire("umbrella", "s.k1");
    const abandoned = await slots.acquire("hooli", "s.a1");
    expect(kept && abandoned).toBeDefined();
    for (let waited = 0; waited < TTL_MS * 2; waited += TTL_MS / 3) {
      await new Promise((resolve) => setTimeout(resolve, TTL_MS / 3));
      await kept!.refresh();
    }
    expect(await slots.acquire("umbrella", "s.k2")).toBeUndefined();
    const taken = await slots.acquire("hooli", "s.a2");
    expect(taken).toBeDefined();
    await Promise.all([kept!.release(), taken!.release()]);
  });

  test("run counter - later starts of a request count up from 2, also when two workers count at once", async () => {
    const runs = new RunCounter(kv);
    expect(await runs.started("s.crashy")).toBe(2);
    expect(await runs.started("s.crashy")).toBe(3);
    expect((await Promise.all([runs.started("s.crashy"), runs.started("s.crashy")])).sort()).toEqual([4, 5]);
    expect(await runs.started("s.other")).toBe(2);
  });
});
