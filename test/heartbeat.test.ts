import { afterAll, describe, expect, test, vi } from "vitest";
import { WebSocket } from "ws";
import { connect } from "@sluice/client";
import { gridTableSql } from "@sluice/devstack";
import { exportDisrupted } from "./fixtures/export.js";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { useTestStack } from "./fixtures/stack.js";
import { TcpProxy } from "./fixtures/tcp-proxy.js";

/**
 * A link that goes silent without closing (a dropped NAT entry): neither end gets a close event.
 * The edge sends a heartbeat frame and a ping every SLUICE_HEARTBEAT_MS; the client takes twice
 * that without a frame for a dead link and resumes elsewhere, and the edge cuts a socket that
 * answered nothing for an interval, so its requests wait for the resume instead of for ever.
 */

const TENANT = "acme";
const GRID_SQL = "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";
const HEARTBEAT_MS = 400;

const stack = useTestStack({
  workers: 1,
  env: { SLUICE_HEARTBEAT_MS: String(HEARTBEAT_MS), SLUICE_WINDOW: "4", SLUICE_CHUNK_BYTES: "16384" },
  datasets: { grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" } },
  setup: async (db) => {
    await db.query(`CREATE SCHEMA ${TENANT}; SET search_path TO ${TENANT}`);
    await db.query(gridTableSql(5_000, 9));
  },
});

describe("heartbeat", () => {
  const proxies: TcpProxy[] = [];
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
  });

  test("silent link - the client notices, resumes on another address, and the result is COPY's", async () => {
    const s = stack();
    const expected = await s.copyCsv(TENANT, GRID_SQL, [null]);
    const proxy = await TcpProxy.start(Number(new URL(s.url).port));
    proxies.push(proxy);
    const { csv, pauseMs } = await exportDisrupted([`ws://127.0.0.1:${proxy.port}`, s.url], await s.token(TENANT), "grid", 10, () => proxy.freeze());
    console.info(`resume after a silent link (heartbeat ${HEARTBEAT_MS} ms): ${pauseMs.toFixed(0)} ms`);
    // Without the heartbeat the export would wait for TCP to give up on the link (hours).
    expect(csv.equals(expected)).toBe(true);
    // The edge cut the dead socket itself: only the client's new one was left.
    await vi.waitFor(async () => expect(metricTotal(await scrapeMetrics(s.edges[0]!.port), "sluice_edge_sockets")).toBe(0), { timeout: 10_000 });
  });

  test("idle session - heartbeats keep a quiet socket open, and a client gone silent is cut by the edge", async () => {
    const s = stack();
    const proxy = await TcpProxy.start(Number(new URL(s.url).port));
    proxies.push(proxy);
    const quiet = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    const silent = await connect({ url: `ws://127.0.0.1:${proxy.port}`, token: await s.token(TENANT), WebSocket, reconnectTimeoutMs: 0 });
    try {
      expect(metricTotal(await scrapeMetrics(s.edges[0]!.port), "sluice_edge_sockets")).toBe(2);
      proxy.freeze();
      await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * 6));
      expect(quiet.state).toBe("open");
      expect(metricTotal(await scrapeMetrics(s.edges[0]!.port), "sluice_edge_sockets")).toBe(1);
      expect(silent.state).toBe("closed");
      const stream = quiet.query("grid", { after: "4990" });
      for await (const chunk of stream) void chunk;
      expect((await stream.result).rows).toBe(10);
    } finally {
      quiet.close();
      silent.close();
    }
  });
});
