import { describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect } from "@sluice/client";
import { gridTableSql, type ServiceProcess } from "@sluice/devstack";
import { csvHeader } from "@sluice/protocol";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { exportDisrupted } from "./fixtures/export.js";
import { useTestStack } from "./fixtures/stack.js";

/**
 * A worker killed mid-stream: another worker continues the request right after the last chunk
 * it published, from the dataset's key in a fresh snapshot. Without a key: WORKER_LOST.
 */

const TENANT = "acme";
const ROWS = 6_000;
const GRID_SQL = "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";
const LEASE_MS = 2_000;

const stack = useTestStack({
  workers: 4,
  env: { SLUICE_WINDOW: "4", SLUICE_CHUNK_BYTES: "16384", SLUICE_REQUEST_LEASE_MS: String(LEASE_MS) },
  datasets: {
    grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" },
    nokey: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }] },
  },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme; SET search_path TO acme");
    await db.query(gridTableSql(ROWS, 5));
    await db.query("ANALYZE grid");
  },
});

/** The live worker running a request now. */
async function busyWorker(workers: readonly ServiceProcess[], dead: Set<number>): Promise<ServiceProcess> {
  for (const worker of workers) {
    if (dead.has(worker.pid)) continue;
    if (metricTotal(await scrapeMetrics(worker.port), "sluice_worker_active_requests") > 0) return worker;
  }
  throw new Error("no worker is running the request");
}

describe("worker crash", () => {
  const dead = new Set<number>();

  test("SIGKILL - another worker continues after the last published chunk; the result is COPY's", async () => {
    const s = stack();
    const expected = await s.copyCsv(TENANT, GRID_SQL, [null]);
    const { csv, pauseMs } = await exportDisrupted(s.url, await s.token(TENANT), "grid", 15, async () => {
      const victim = await busyWorker(s.workers, dead);
      dead.add(victim.pid);
      victim.kill();
    });
    console.info(`takeover after a worker SIGKILL: ${pauseMs.toFixed(0)} ms (request lease ${LEASE_MS} ms)`);
    expect(csv.equals(expected)).toBe(true);
  });

  test("fencing - a frozen worker that wakes up after another took over is fenced off; the result is COPY's", async () => {
    const s = stack();
    const expected = await s.copyCsv(TENANT, GRID_SQL, [null]);
    const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    let frozen: ServiceProcess | undefined;
    try {
      const stream = client.query("grid");
      const parts: Uint8Array[] = [Buffer.from(csvHeader((await stream.meta).columns.map((c) => c.name)))];
      let chunks = 0;
      for await (const chunk of stream) {
        parts.push(chunk.data);
        if (++chunks === 15) {
          frozen = await busyWorker(s.workers, dead);
          process.kill(frozen.pid, "SIGSTOP");
          // Wakes up once another worker has continued the request.
          const sleeper = frozen;
          setTimeout(() => process.kill(sleeper.pid, "SIGCONT"), LEASE_MS * 2);
        }
        if (chunks === 60) await new Promise((resolve) => setTimeout(resolve, LEASE_MS * 2));
      }
      expect(Buffer.concat(parts).equals(expected)).toBe(true);
      // The woken worker gave the request up instead of writing into it.
      const metrics = await scrapeMetrics(frozen?.port ?? 0);
      expect(metricTotal(metrics, "sluice_worker_active_requests")).toBe(0);
      expect(metricTotal(metrics, "sluice_worker_requests_total", { outcome: "cancelled" })).toBe(1);
    } finally {
      if (frozen) process.kill(frozen.pid, "SIGCONT");
      client.close();
    }
  });

  test("SIGTERM - a worker stopping mid-stream hands its request over and exits cleanly; nothing is lost", async () => {
    const s = stack();
    const expected = await s.copyCsv(TENANT, GRID_SQL, [null]);
    // The client waits for the worker to exit, so the request cannot finish before its finish timeout.
    const { csv } = await exportDisrupted(s.url, await s.token(TENANT), "grid", 15, async () => {
      const leaving = await busyWorker(s.workers, dead);
      dead.add(leaving.pid);
      expect(await leaving.stop("SIGTERM", 30_000)).toBe(0);
    });
    expect(csv.equals(expected)).toBe(true);
  });

  test("SIGKILL - a dataset without a key ends with WORKER_LOST, not a silent restart", async () => {
    const s = stack();
    const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    try {
      const stream = client.query("nokey");
      let chunks = 0;
      const read = (async () => {
        for await (const _chunk of stream) {
          if (++chunks === 10) {
            const victim = await busyWorker(s.workers, dead);
            dead.add(victim.pid);
            victim.kill();
          }
        }
      })();
      await expect(read).rejects.toMatchObject({ code: "WORKER_LOST" });
    } finally {
      client.close();
    }
  });
});
