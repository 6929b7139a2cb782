import { describe, expect, test, vi } from "vitest";
import { WebSocket } from "ws";
import { connect, type SluiceClient } from "@sluice/client";
import { parseCsvRows } from "@sluice/protocol";
import type { ServiceProcess } from "@sluice/devstack";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { useTestStack } from "./fixtures/stack.js";

/**
 * Workers scale on their own: one edge and three workers, started as their containers start them
 * (`node services/<kind>/dist/main.js`, configured by environment only), share 60 requests; a
 * fourth worker started while requests queue takes some of them; a worker stopped with SIGTERM
 * meanwhile finishes what it holds, and no request loses or repeats a row.
 */

const TENANT = "acme";
const ROWS = 2_000;
const SOCKETS = 6;
const REQUESTS = 60;
// Each request first sleeps, so requests outlast a worker's start and queue behind the slots.
const SQL = "SELECT n, $2::int AS tag, md5(n::text) AS h FROM (SELECT pg_sleep($1::int / 1000.0)) nap, generate_series(1, 2000) n ORDER BY n";

const stack = useTestStack({
  edges: 1,
  workers: 3,
  pool: 2,
  env: { SLUICE_WORKER_SLOTS: "2", SLUICE_CHUNK_BYTES: "16384" },
  datasets: {
    slow: {
      sql: SQL,
      params: [
        { name: "sleep_ms", type: "int4", required: true },
        { name: "tag", type: "int4", required: true },
      ],
      key: "n",
    },
  },
  setup: async (db) => void (await db.query(`CREATE SCHEMA ${TENANT}`)),
});

/** Requests finished with outcome completed, per worker, read from each worker's /metrics. */
async function completedBy(workers: readonly ServiceProcess[]): Promise<number[]> {
  return Promise.all(workers.map(async (w) => metricTotal(await scrapeMetrics(w.port), "sluice_worker_requests_total", { outcome: "completed" })));
}

/** Checks one result: every row of 1..ROWS once, in order, carrying its own request's tag. */
function checkResult(tag: number, csv: string): void {
  const rows = parseCsvRows(csv);
  expect(rows.length, `request ${tag}: rows`).toBe(ROWS);
  expect(rows.every((row, i) => row[0] === String(i + 1) && row[1] === String(tag)), `request ${tag}: rows out of order or of another request`).toBe(true);
}

/**
 * Sends `REQUESTS` requests over `SOCKETS` sockets at once; `onFinished` hears of each finished
 * request as it finishes (with how many have). Resolves with every result's CSV, by tag.
 */
async function runAll(url: string, token: string, sleepMs: number, onFinished: (finished: number) => void = () => undefined): Promise<Map<number, string>> {
  const clients: SluiceClient[] = [];
  try {
    for (let i = 0; i < SOCKETS; i++) clients.push(await connect({ url, token, WebSocket }));
    let finished = 0;
    const runs = Array.from({ length: REQUESTS }, async (_, tag) => {
      const stream = clients[tag % SOCKETS]!.query("slow", { sleep_ms: String(sleepMs), tag: String(tag) });
      const decoder = new TextDecoder("utf-8", { fatal: true });
      let csv = "";
      for await (const chunk of stream) csv += decoder.decode(chunk.data, { stream: true });
      await stream.result;
      onFinished(++finished);
      return [tag, csv] as const;
    });
    return new Map(await Promise.all(runs));
  } finally {
    for (const client of clients) client.close();
  }
}

describe("scale-out", () => {
  test("three workers - 60 requests from 6 sockets, every worker takes a share", async () => {
    const s = stack();
    const results = await runAll(s.url, await s.token(TENANT), 150);

    expect(results.size).toBe(REQUESTS);
    for (const [tag, csv] of results) checkResult(tag, csv);
    const completed = await completedBy(s.workers);
    console.info(`60 requests over 3 workers (2 slots each): ${completed.join(" / ")}`);
    expect(completed.every((n) => n > 0), `completed per worker: ${completed.join(", ")}`).toBe(true);
    expect(completed.reduce((a, b) => a + b, 0)).toBe(REQUESTS);

    // What an operator watches: connections, pools, and how fast clients ack.
    const edgeMetrics = await scrapeMetrics(s.edges[0]!.port);
    expect(metricTotal(edgeMetrics, "sluice_edge_nats_connected")).toBe(1);
    expect(metricTotal(edgeMetrics, "sluice_edge_ack_lag_seconds_count")).toBeGreaterThanOrEqual(REQUESTS);
    for (const worker of s.workers) {
      const text = await scrapeMetrics(worker.port);
      expect(metricTotal(text, "sluice_worker_nats_connected")).toBe(1);
      expect(metricTotal(text, "sluice_worker_pool_connections", { database: "main" })).toBeGreaterThan(0);
      expect(metricTotal(text, "sluice_worker_pool_connections", { database: "main" })).toBeLessThanOrEqual(2);
      expect(metricTotal(text, "sluice_worker_leases_waiting")).toBe(0);
    }
  });

  test("trace context - the request's log lines on edge and worker carry the caller's trace, each hop a span of its own", async () => {
    const s = stack();
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const callerSpan = "b7ad6b7169203331";
    const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    try {
      const stream = client.query("slow", { sleep_ms: "0", tag: "7" }, { id: "traced", traceparent: `00-${traceId}-${callerSpan}-01` });
      for await (const chunk of stream) void chunk;
      await stream.result;
    } finally {
      client.close();
    }
    const logLines = (services: readonly ServiceProcess[]) =>
      services.flatMap((service) => service.recentOutput().split("\n")).flatMap((line) => {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          return entry.trace_id === traceId ? [entry] : [];
        } catch {
          return [];
        }
      });
    // The worker logs completion just after publishing the end the client saw.
    await vi.waitFor(() => expect(logLines(s.workers).map((l) => l.msg)).toContain("request completed"), { timeout: 5_000 });
    const edgeLines = logLines(s.edges);
    const workerLines = logLines(s.workers);
    expect(edgeLines.map((l) => l.msg)).toContain("request queued");
    const [edgeLine] = edgeLines;
    const [workerLine] = workerLines;
    expect(edgeLine).toMatchObject({ parent_span_id: callerSpan, tenant: TENANT, dataset: "slow" });
    expect(workerLine).toMatchObject({ parent_span_id: edgeLine!.span_id, tenant: TENANT, dataset: "slow" });
    expect(String(workerLine!.request)).toMatch(/traced$/);
  });

  test("a worker started while requests queue takes some; one stopped with SIGTERM loses nothing", async () => {
    const s = stack();
    const [leaving] = s.workers;
    const before = await completedBy(s.workers);
    let joined: Promise<ServiceProcess> | undefined;
    let stopped: Promise<number> | undefined;
    let finishedWhenJoined = 0;
    let finishedWhenStopped = 0;

    const results = await runAll(s.url, await s.token(TENANT), 500, (finished) => {
      // Six run at once, 54 wait: a new worker is started after the first round.
      if (finished === 6) {
        finishedWhenJoined = finished;
        joined = s.addWorker();
      }
      if (finished === 20) {
        finishedWhenStopped = finished;
        stopped = leaving!.stop("SIGTERM", 20_000);
      }
    });

    expect(results.size).toBe(REQUESTS);
    for (const [tag, csv] of results) checkResult(tag, csv);
    const added = await joined!;
    expect(await stopped!, "the stopped worker's exit code").toBe(0);
    const [byAdded = 0] = await completedBy([added]);
    const byStaying = await completedBy(s.workers.slice(1));
    const stayingBefore = before.slice(1);
    console.info(
      `worker added after ${finishedWhenJoined}/60 finished took ${byAdded} requests; ` +
        `worker stopped after ${finishedWhenStopped}/60; the two that stayed took ${byStaying.map((n, i) => n - stayingBefore[i]!).join(" / ")}`,
    );
    expect(byAdded, "requests taken by the worker added while requests queued").toBeGreaterThan(0);
    // The stopped worker's share is whatever the others did not take: every request was answered once.
    expect(byAdded + byStaying.reduce((a, b) => a + b, 0) - stayingBefore.reduce((a, b) => a + b, 0)).toBeLessThan(REQUESTS);
  });
});
