import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect } from "@sluice/client";
import { gridTableSql } from "@sluice/devstack";
import { PROTOCOL_VERSION } from "@sluice/protocol";
import { exportDisrupted } from "./fixtures/export.js";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { RawSocket } from "./fixtures/raw-socket.js";
import { useTestStack } from "./fixtures/stack.js";
import { TcpProxy } from "./fixtures/tcp-proxy.js";

/**
 * A client whose connection drops, or whose edge stops or dies, reconnects by itself and every
 * running request continues where its app left off: the result is byte for byte COPY's.
 */

const TENANT = "acme";
const ROWS = 6_000;
const GRID_SQL = "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";
const GRACE_MS = 3_000;

const stack = useTestStack({
  edges: 3,
  workers: 1,
  // Small chunks and window: the stream is long and the worker is always waiting on the client.
  env: { SLUICE_WINDOW: "4", SLUICE_CHUNK_BYTES: "16384", SLUICE_RESUME_GRACE_MS: String(GRACE_MS), SLUICE_MAX_REQUESTS_PER_SOCKET: "1" },
  datasets: { grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" } },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme; SET search_path TO acme");
    await db.query(gridTableSql(ROWS, 3));
    await db.query("ANALYZE grid");
  },
});

const portOf = (url: string): number => Number(new URL(url).port);

let expected: Buffer;
beforeAll(async () => {
  expected = await stack().copyCsv(TENANT, GRID_SQL, [null]);
});

async function exportWith(urls: string[], afterChunks: number, disrupt: () => void | Promise<void>): Promise<{ csv: Buffer; pauseMs: number }> {
  const result = await exportDisrupted(urls, await stack().token(TENANT), "grid", afterChunks, disrupt);
  expect(result.chunks).toBeGreaterThan(afterChunks);
  return result;
}

describe("resume", () => {
  const proxies: TcpProxy[] = [];
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
  });

  test("drop - a connection cut mid-stream resumes on the same edge and the result is COPY's", async () => {
    const s = stack();
    const proxy = await TcpProxy.start(portOf(s.urls[0] ?? ""));
    proxies.push(proxy);
    // Every connection is reset, as a network failure would; new ones go through again.
    const { csv, pauseMs } = await exportWith([`ws://127.0.0.1:${proxy.port}`, s.urls[0] ?? ""], 20, () => {
      proxy.cut();
      proxy.restore();
    });
    console.info(`resume after a dropped connection: ${pauseMs.toFixed(0)} ms`);
    expect(csv.equals(expected)).toBe(true);
    const metrics = await scrapeMetrics(s.edges[0]!.port);
    expect(metricTotal(metrics, "sluice_edge_resumed_requests_total", { outcome: "resumed" })).toBeGreaterThanOrEqual(1);
  });

  test("edge SIGTERM - the client moves to another edge and loses nothing", async () => {
    const s = stack();
    const { csv, pauseMs } = await exportWith([s.urls[0] ?? "", s.urls[1] ?? ""], 20, async () => {
      await s.edges[0]?.stop("SIGTERM");
    });
    console.info(`resume after edge SIGTERM: ${pauseMs.toFixed(0)} ms`);
    expect(csv.equals(expected)).toBe(true);
  });

  test("edge SIGKILL - the client resumes on another edge and loses nothing", async () => {
    const s = stack();
    const { csv, pauseMs } = await exportWith([s.urls[1] ?? "", s.urls[2] ?? ""], 20, () => s.edges[1]?.kill());
    console.info(`resume after edge SIGKILL: ${pauseMs.toFixed(0)} ms`);
    expect(csv.equals(expected)).toBe(true);
  });

  test("ownership - a session is resumed only with a token of its own tenant and subject", async () => {
    const s = stack();
    // Edges 0 and 1 were stopped by the tests above; edge 2 serves this one.
    const owner = await connect({ url: s.urls[2] ?? "", token: await s.token(TENANT, "alice"), WebSocket });
    const session = owner.session;
    owner.close();
    const attempt = async (token: string): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(s.urls[2] ?? "");
        ws.on("open", () => ws.send(JSON.stringify({ type: "hello", v: 1, token, resume: { session, requests: [] } })));
        ws.on("message", (data) => {
          resolve(JSON.parse(String(data)));
          ws.close();
        });
        ws.on("error", reject);
      });
    expect(await attempt(await s.token(TENANT, "mallory"))).toMatchObject({ type: "error", code: "RESUME_FAILED" });
    expect(await attempt(await s.token("globex", "alice"))).toMatchObject({ type: "error", code: "RESUME_FAILED" });
    expect(await attempt(await s.token(TENANT, "alice"))).toMatchObject({ type: "welcome", session, resumed: true });
  });

  test("queued - a query the edge held in the socket's queue when the link dropped is sent again and completes", async () => {
    const s = stack();
    // The edges before it were stopped by the tests above.
    const edge = s.urls[2] ?? "";
    const proxy = await TcpProxy.start(portOf(edge));
    proxies.push(proxy);
    const client = await connect({ url: [`ws://127.0.0.1:${proxy.port}`, edge], token: await s.token(TENANT), WebSocket });
    try {
      // One request per socket: the second waits in the edge's queue, never published.
      const running = client.query("grid");
      const waiting = client.query("grid", { after: String(ROWS - 100) });
      const chunks = running[Symbol.asyncIterator]();
      for (let i = 0; i < 3; i++) await chunks.next();
      proxy.cut();
      const drain = async (stream: typeof running, first = 0) => {
        let rows = first;
        for await (const chunk of stream) rows += chunk.rows;
        return rows;
      };
      const rest = (async () => {
        let rows = 0;
        for (let next = await chunks.next(); !next.done; next = await chunks.next()) rows += next.value.rows;
        return rows;
      })();
      const [, waited] = await Promise.all([rest, drain(waiting)]);
      expect(waited).toBe(100);
      expect((await waiting.result).rows).toBe(100);
      expect((await running.result).rows).toBe(ROWS);
    } finally {
      client.close();
    }
  });

  test("stale socket - a resume while the edge still thinks the old socket open: the old one yields, and its late close cancels nothing", async () => {
    const s = stack();
    const edge = s.urls[2] ?? "";
    const proxy = await TcpProxy.start(portOf(edge));
    proxies.push(proxy);
    const token = await s.token(TENANT);
    const old = await RawSocket.welcomed(`ws://127.0.0.1:${proxy.port}`, token);
    const session = String(old.texts[0]?.session);
    old.send({ type: "query", id: "q", dataset: "grid", params: {} });
    const head = await old.collect("q", { chunks: 3 });
    proxy.freeze(); // the link dies; the edge does not know yet

    const fresh = await RawSocket.open(edge);
    fresh.send({ type: "hello", v: PROTOCOL_VERSION, token, resume: { session, requests: [{ id: "q", next: head.next }] } });
    expect(await fresh.nextText()).toMatchObject({ type: "welcome", resumed: true });
    const part = await fresh.collect("q", { from: head.next, chunks: 3 });
    proxy.cut(); // now the edge hears the old socket close…
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 1_000)); // …and its grace period passes
    const rest = await fresh.collect("q", { from: part.next });
    expect(rest.last).toMatchObject({ type: "end", rows: ROWS });
    fresh.close();
  });

  test("beyond the grace period - a client that never returns has its request stopped and cleaned up", async () => {
    const s = stack();
    const proxy = await TcpProxy.start(portOf(s.urls[2] ?? ""));
    proxies.push(proxy);
    const client = await connect({ url: `ws://127.0.0.1:${proxy.port}`, token: await s.token(TENANT), WebSocket, reconnectTimeoutMs: 0 });
    const stream = client.query("grid");
    const chunks = stream[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) await chunks.next();
    expect((await s.workerBackends()).filter((b) => b.state !== "idle")).toHaveLength(1);
    proxy.cut();
    await expect(stream.result).rejects.toMatchObject({ code: "SERVICE_UNAVAILABLE" });
    // Within the grace period the request waits for its client…
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS / 2));
    expect((await s.workerBackends()).filter((b) => b.state !== "idle")).toHaveLength(1);
    // …and after it, it is stopped: the connection is returned and the subject purged.
    const deadline = Date.now() + GRACE_MS + 5_000;
    while (Date.now() < deadline && (await s.workerBackends()).some((b) => b.state !== "idle")) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await s.workerBackends()).filter((b) => b.state !== "idle")).toEqual([]);
  });
});
