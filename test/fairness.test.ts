import { describe, expect, test, vi } from "vitest";
import { WebSocket } from "ws";
import { connect, type SluiceClient } from "@sluice/client";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { useTestStack, type TestStack } from "./fixtures/stack.js";
import { streamState } from "./fixtures/streams.js";

/**
 * One tenant starts a dozen big exports at once; another asks for small results meanwhile. Each
 * tenant may run SLUICE_TENANT_MAX_RUNNING requests at once across all workers, the rest wait in
 * the queue: the burst completes, and the small requests are answered while it runs instead of
 * after it. The same scenario without the limit runs alongside for comparison (figures printed).
 */

const BIG_ROWS = 100_000;
const BURST = 12;
const SMALL = 5;
const DATASETS = {
  endless: { sql: "SELECT n, repeat('x', 500) AS pad FROM generate_series(1, 10000000) n" },
  big: { sql: `SELECT n, repeat('x', 120) AS pad FROM generate_series(1, ${BIG_ROWS}) n` },
  small: { sql: "SELECT n FROM generate_series(1, 100) n" },
};
const COMMON = {
  workers: 2,
  pool: 3,
  datasets: DATASETS,
  setup: async (db: { query(sql: string): Promise<unknown> }) => void (await db.query("CREATE SCHEMA hog; CREATE SCHEMA polite")),
};

interface Timeline {
  /** Milliseconds from the start of the burst to each big export's end, in order. */
  readonly bigDone: number[];
  /** Milliseconds each small request took, from its query to its end. */
  readonly smallLatency: number[];
  /** Milliseconds from the start of the burst to the last small request's end. */
  readonly smallAllDone: number;
}

async function rowsOf(client: SluiceClient, dataset: string): Promise<number> {
  const stream = client.query(dataset);
  for await (const chunk of stream) void chunk;
  return (await stream.result).rows;
}

async function scenario(s: TestStack): Promise<Timeline> {
  const clients: SluiceClient[] = [];
  try {
    const hog = [await connect({ url: s.url, token: await s.token("hog"), WebSocket }), await connect({ url: s.url, token: await s.token("hog"), WebSocket })];
    const polite = await connect({ url: s.url, token: await s.token("polite"), WebSocket });
    clients.push(...hog, polite);
    const start = performance.now();
    const bigDone: number[] = [];
    let firstChunk!: () => void;
    const running = new Promise<void>((resolve) => (firstChunk = resolve));
    const burst = Array.from({ length: BURST }, async (_, i) => {
      const stream = hog[i % 2]!.query("big");
      for await (const chunk of stream) {
        void chunk;
        firstChunk();
      }
      const { rows } = await stream.result;
      bigDone.push(performance.now() - start);
      return rows;
    });
    await running;
    const smallLatency = await Promise.all(
      Array.from({ length: SMALL }, async () => {
        const asked = performance.now();
        expect(await rowsOf(polite, "small")).toBe(100);
        return performance.now() - asked;
      }),
    );
    const smallAllDone = performance.now() - start;
    // The burst completes: every export whole, none refused.
    expect(await Promise.all(burst)).toEqual(Array.from({ length: BURST }, () => BIG_ROWS));
    return { bigDone, smallLatency, smallAllDone };
  } finally {
    for (const client of clients) client.close();
  }
}

async function tenantWaits(s: TestStack): Promise<number> {
  const texts = await Promise.all(s.workers.map((w) => scrapeMetrics(w.port)));
  return texts.reduce((sum, text) => sum + metricTotal(text, "sluice_worker_tenant_waits_total"), 0);
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const describeTimeline = (t: Timeline): string =>
  `small requests: median ${median(t.smallLatency).toFixed(0)} ms, all done at ${t.smallAllDone.toFixed(0)} ms; ` +
  `big exports done at ${t.bigDone.map((ms) => ms.toFixed(0)).join(", ")} ms`;

describe("fairness", () => {
  describe("with a limit of 2 running requests per tenant", () => {
    const stack = useTestStack({ ...COMMON, env: { SLUICE_TENANT_MAX_RUNNING: "2" } });

    test("a dozen big exports of one tenant complete, and another tenant's small requests are answered meanwhile", async () => {
      const s = stack();
      const timeline = await scenario(s);
      console.info(`tenant limit 2: ${describeTimeline(timeline)}`);
      // Ordering, not time: the small requests end well before the burst does (without the limit
      // they queue behind it and end with its last exports).
      expect(timeline.smallAllDone).toBeLessThan(timeline.bigDone[BURST - 4]!);
      expect(await tenantWaits(s), "the burst's requests waited for their tenant's slots").toBeGreaterThan(0);
    });

    test("a waiting request can be cancelled; it leaves nothing behind and frees nothing it did not hold", async () => {
      const s = stack();
      const client = await connect({ url: s.url, token: await s.token("hog"), WebSocket });
      try {
        // Two requests the client does not read hold the tenant's two slots (their windows fill).
        const holders = [client.query("endless"), client.query("endless")];
        await Promise.all(holders.map((h) => h.meta));
        const waitsBefore = await tenantWaits(s);
        const waiting = client.query("small");
        await vi.waitFor(async () => expect(await tenantWaits(s)).toBeGreaterThan(waitsBefore), { timeout: 10_000, interval: 100 });
        waiting.cancel();
        await expect(waiting.result).rejects.toMatchObject({ code: "CANCELLED" });
        for (const holder of holders) holder.cancel();
        await Promise.allSettled(holders.map((h) => h.result));
        // The slots are free again: the tenant's next request runs at once.
        expect(await rowsOf(client, "small")).toBe(100);
      } finally {
        client.close();
      }
      // The cancelled waiting request left the queue once a worker saw it again.
      await vi.waitFor(async () => expect((await streamState(s.natsUrl, s.natsPrefix)).requests).toBe(0), { timeout: 10_000, interval: 200 });
    });
  });

  describe("without a tenant limit, for comparison", () => {
    const stack = useTestStack({ ...COMMON, env: { SLUICE_TENANT_MAX_RUNNING: "0" } });

    test("the same burst and small requests (figures only)", async () => {
      const timeline = await scenario(stack());
      console.info(`no tenant limit: ${describeTimeline(timeline)}`);
      expect(timeline.bigDone).toHaveLength(BURST);
    });
  });
});
