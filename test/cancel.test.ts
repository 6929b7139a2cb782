import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect, type SluiceClient } from "@sluice/client";
import { SluiceError } from "@sluice/protocol";
import { gridTableSql } from "@sluice/devstack";
import { POLL_EVERY_MS, busyWorkerBackends, busyWorkerBackendsAt } from "./fixtures/activity.js";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { useTestStack, type BackendRow } from "./fixtures/stack.js";

/**
 * Stopping a request, by cancel() or by leaving the loop that reads it, ends it with CANCELLED and
 * gives its database connection back at once; the socket goes on serving other requests.
 */

const TENANT = "acme";
const ROWS = 100_000;
const GRID_SQL = "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";
/** A statement that computes for seconds before its first row (describing it, LIMIT 0, does not). */
const SLOW_SECONDS = 4;
const SLOW_SQL = `SELECT id FROM (SELECT id, pg_sleep(${SLOW_SECONDS}) FROM grid WHERE id = 1) AS s`;
const RELEASE_WITHIN_MS = 1_000;

const stack = useTestStack({
  workers: 2,
  // A small window: the worker stops at two chunks ahead of the client and holds its cursor open.
  env: { SLUICE_WINDOW: "2" },
  datasets: { grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" }, slow: { sql: SLOW_SQL } },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme; SET search_path TO acme");
    await db.query(gridTableSql(ROWS, 3));
    // Vacuumed now so that no autovacuum pass over the fresh 200 MB competes with the tests.
    await db.query("VACUUM acme.grid");
    await db.query("ANALYZE acme.grid (id)");
  },
});

let client: SluiceClient;
beforeAll(async () => {
  const s = stack();
  client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
});
afterAll(() => {
  client?.close();
});

const busyBackends = (): Promise<BackendRow[]> => busyWorkerBackends(stack());
const busyAfterRelease = (deadline: number): Promise<BackendRow[]> => busyWorkerBackendsAt(stack(), deadline);

/** The SluiceError code `promise` rejects with, or what happened instead. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof SluiceError ? error.code : `not a SluiceError: ${String(error)}`),
  );
}

async function cancelledOnWorkers(): Promise<number> {
  const texts = await Promise.all(stack().workers.map((w) => scrapeMetrics(w.port)));
  return texts.reduce((sum, text) => sum + metricTotal(text, "sluice_worker_requests_total", { outcome: "cancelled" }), 0);
}

/**
 * Requests the workers counted as cancelled since `before`, once `expected` are (or 5 s passed):
 * a worker counts a request when it has wound it down, a moment after its connection is free.
 */
async function cancelledSince(before: number, expected: number): Promise<number> {
  let seen = (await cancelledOnWorkers()) - before;
  for (let i = 0; i < 100 && seen < expected; i++) {
    await sleep(POLL_EVERY_MS);
    seen = (await cancelledOnWorkers()) - before;
  }
  return seen;
}

async function expectSocketStillServes(): Promise<void> {
  const rows: unknown[] = [];
  for await (const row of client.query("grid", { after: String(ROWS - 5) }).rows()) rows.push((row as string[])[0]);
  expect(rows).toEqual(["99996", "99997", "99998", "99999", "100000"]);
}

describe("cancel", () => {
  test("cancel() - iteration ends with CANCELLED and the worker's connection is released within 1 s", async () => {
    const cancelledBefore = await cancelledOnWorkers();
    const stream = client.query("grid");
    const chunks = stream[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) expect((await chunks.next()).value?.rows).toBeGreaterThan(0);
    // The request is mid-flight: its worker holds a connection with an open transaction.
    expect(await busyBackends()).toHaveLength(1);

    const cancelledAt = performance.now();
    const confirmed = stream.cancel();
    expect(await codeOf(chunks.next())).toBe("CANCELLED");
    await confirmed;
    expect(await codeOf(stream.result)).toBe("CANCELLED");
    expect(await busyAfterRelease(cancelledAt + RELEASE_WITHIN_MS)).toEqual([]);
    expect(await cancelledSince(cancelledBefore, 1)).toBe(1);
    await expectSocketStillServes();
  });

  test("break - leaving a for-await loop cancels the request and releases its connection within 1 s", async () => {
    const cancelledBefore = await cancelledOnWorkers();
    const stream = client.query("grid");
    let read = 0;
    for await (const chunk of stream) {
      expect(chunk.rows).toBeGreaterThan(0);
      if (++read === 3) break;
    }
    const leftAt = performance.now();
    expect(await codeOf(stream.result)).toBe("CANCELLED");
    expect(await busyAfterRelease(leftAt + RELEASE_WITHIN_MS)).toEqual([]);
    expect(await cancelledSince(cancelledBefore, 1)).toBe(1);
    await expectSocketStillServes();
  });

  test("break - leaving a rows() loop cancels too, and several cancelled requests leave nothing behind", async () => {
    const cancelledBefore = await cancelledOnWorkers();
    const streams = [client.query("grid"), client.query("grid", { after: "50000" }), client.query("grid", {}, { format: "ndjson" })];
    await Promise.all(
      streams.map(async (stream) => {
        let read = 0;
        for await (const row of stream.rows()) {
          expect(row).toBeDefined();
          if (++read === 500) break;
        }
      }),
    );
    const leftAt = performance.now();
    expect(await Promise.all(streams.map((s) => codeOf(s.result)))).toEqual(["CANCELLED", "CANCELLED", "CANCELLED"]);
    expect(await busyAfterRelease(leftAt + RELEASE_WITHIN_MS)).toEqual([]);
    expect(await cancelledSince(cancelledBefore, 3)).toBe(3);
    await expectSocketStillServes();
    const edge = await scrapeMetrics(stack().edges[0]?.port ?? 0);
    expect(metricTotal(edge, "sluice_edge_active_requests")).toBe(0);
  });

  test("close - a client that goes away mid-stream has its request stopped and its connection released within 1 s", async () => {
    const cancelledBefore = await cancelledOnWorkers();
    const s = stack();
    const leaving = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    const stream = leaving.query("grid");
    const chunks = stream[Symbol.asyncIterator]();
    for (let i = 0; i < 2; i++) expect((await chunks.next()).value?.rows).toBeGreaterThan(0);
    expect(await busyBackends()).toHaveLength(1);
    const closedAt = performance.now();
    leaving.close();
    expect(await codeOf(stream.result)).toBe("SERVICE_UNAVAILABLE");
    expect(await busyAfterRelease(closedAt + RELEASE_WITHIN_MS)).toEqual([]);
    expect(await cancelledSince(cancelledBefore, 1)).toBe(1);
    await expectSocketStillServes();
  });

  test("cancel() - a statement still computing its first rows is interrupted, its connection released within 1 s", async () => {
    const stream = client.query("slow");
    await stream.meta;
    // The worker has started the statement and waits on PostgreSQL for rows.
    expect(await busyBackends()).toHaveLength(1);
    const cancelledAt = performance.now();
    await stream.cancel();
    expect(await codeOf(stream.result)).toBe("CANCELLED");
    expect(await busyAfterRelease(cancelledAt + RELEASE_WITHIN_MS)).toEqual([]);
    await expectSocketStillServes();
  });
});
