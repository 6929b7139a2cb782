import { describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect } from "@sluice/client";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { useTestStack } from "./fixtures/stack.js";
import { streamState } from "./fixtures/streams.js";

/** Nothing accumulates: consumers, stream data, connections; database faults reach the client coded. */

const TENANT = "acme";
const REQUESTS = 1_000;
const CONCURRENCY = 10;
const IDLE_MS = 3_000;

const stack = useTestStack({
  workers: 2,
  env: { SLUICE_WINDOW: "4", SLUICE_CHUNK_BYTES: "16384", SLUICE_IDLE_TIMEOUT_MS: String(IDLE_MS) },
  datasets: {
    small: { sql: "SELECT g AS n, 'row ' || g AS label FROM generate_series(1, 1 + coalesce($1::int4, 0) % 50) AS g", params: [{ name: "i", type: "int4" }] },
    long: { sql: "SELECT g AS n, repeat('x', 200) AS pad FROM generate_series(1, 200000) AS g" },
  },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme");
  },
});

describe("cleanup", () => {
  test(`${REQUESTS} short requests leave no consumer, no stream data and no busy connection behind`, async () => {
    const s = stack();
    const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    let next = 0;
    let rows = 0;
    const lane = async (): Promise<void> => {
      while (next < REQUESTS) {
        const i = next++;
        for await (const _row of client.query("small", { i }).rows()) rows++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    client.close();
    expect(rows).toBe(Array.from({ length: REQUESTS }, (_, i) => 1 + (i % 50)).reduce((a, b) => a + b, 0));
    // Cleanup runs right behind the last ack; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await streamState(s.natsUrl, s.natsPrefix)).toEqual({ consumers: 0, results: 0, requests: 0 });
    expect((await s.workerBackends()).filter((b) => b.state !== "idle")).toEqual([]);
    for (const worker of s.workers) {
      const metrics = await scrapeMetrics(worker.port);
      expect(metricTotal(metrics, "sluice_worker_leases_in_use")).toBe(0);
      expect(metricTotal(metrics, "sluice_worker_active_requests")).toBe(0);
    }
    expect(metricTotal(await scrapeMetrics(s.edges[0]?.port ?? 0), "sluice_edge_active_requests")).toBe(0);
  });

  test("idle timeout - a client that acks nothing for SLUICE_IDLE_TIMEOUT_MS has its request stopped and cleaned up", async () => {
    const s = stack();
    const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    try {
      const stream = client.query("long");
      const chunks = stream[Symbol.asyncIterator]();
      for (let i = 0; i < 2; i++) await chunks.next();
      expect((await s.workerBackends()).filter((b) => b.state !== "idle")).toHaveLength(1);
      const deadline = Date.now() + IDLE_MS + 5_000;
      while (Date.now() < deadline && (await s.workerBackends()).some((b) => b.state !== "idle")) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect((await s.workerBackends()).filter((b) => b.state !== "idle")).toEqual([]);
      // Reading on, the client learns the request was stopped.
      await expect((async () => {
        for (let next = await chunks.next(); !next.done; next = await chunks.next());
      })()).rejects.toMatchObject({ code: "CANCELLED" });
    } finally {
      client.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await streamState(s.natsUrl, s.natsPrefix)).toEqual({ consumers: 0, results: 0, requests: 0 });
  });

  test("pg_terminate_backend mid-stream reaches the client as DATABASE_UNAVAILABLE and nothing leaks", async () => {
    const s = stack();
    const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    try {
      const stream = client.query("long");
      const read = (async () => {
        let chunks = 0;
        for await (const _chunk of stream) {
          if (++chunks === 3) {
            const busy = (await s.workerBackends()).filter((b) => b.state !== "idle");
            expect(busy).toHaveLength(1);
            await s.sql("SELECT pg_terminate_backend($1)", [busy[0]?.pid]);
          }
        }
      })();
      await expect(read).rejects.toMatchObject({ code: "DATABASE_UNAVAILABLE" });
      expect((await s.workerBackends()).filter((b) => b.state !== "idle")).toEqual([]);
      // The worker's pool replaced the dead connection: the next request works.
      let rows = 0;
      for await (const _row of client.query("small", { i: 3 }).rows()) rows++;
      expect(rows).toBe(4);
    } finally {
      client.close();
    }
  });
});
