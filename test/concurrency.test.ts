import { describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect, type QueryStream, type SluiceClient } from "@sluice/client";
import { parseCsvRows } from "@sluice/protocol";
import { gridTableSql } from "@sluice/devstack";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { useTestStack } from "./fixtures/stack.js";

/**
 * Twenty requests at once, ten per socket, from two tenants whose data differ, on two workers with
 * three connections each and small chunks, so that requests queue, share workers and interleave
 * their chunks on each socket. Every result must be exactly its own rows.
 */

const TENANTS = { acme: { rows: 5_000, seed: 11 }, globex: { rows: 4_000, seed: 503 } } as const;
type Tenant = keyof typeof TENANTS;
const QUERIES_PER_SOCKET = 10;
const GRID_SQL =
  "SELECT id, owner, c001, c002, c003, c004, c005, c006, c007, c008, c009, c010 FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";

const stack = useTestStack({
  edges: 2,
  workers: 2,
  pool: 3,
  env: { SLUICE_CHUNK_BYTES: "16384", SLUICE_WINDOW: "4" },
  datasets: { grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" } },
  setup: async (db) => {
    for (const [tenant, { rows, seed }] of Object.entries(TENANTS)) {
      await db.query(`CREATE SCHEMA ${tenant}; SET search_path TO ${tenant}`);
      await db.query(gridTableSql(rows, seed));
      // Every row says whose it is, so a row crossing tenants cannot go unnoticed.
      await db.query(`ALTER TABLE grid ADD COLUMN owner text NOT NULL DEFAULT '${tenant}'`);
      await db.query("ANALYZE grid");
    }
  },
});

interface Collected {
  readonly tenant: Tenant;
  readonly after: number;
  readonly rows: (string | null)[][];
  readonly reportedRows: number;
}

/** Reads a stream chunk by chunk, noting on `arrivals` which request each chunk belonged to. */
async function collect(tenant: Tenant, after: number, stream: QueryStream<"csv">, arrivals: string[]): Promise<Collected> {
  const rows: (string | null)[][] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for await (const chunk of stream) {
    arrivals.push(stream.id);
    rows.push(...parseCsvRows(decoder.decode(chunk.data)));
  }
  return { tenant, after, rows, reportedRows: (await stream.result).rows };
}

/** How often consecutive chunks on a socket belong to different requests. */
function switches(arrivals: readonly string[]): number {
  return arrivals.filter((id, i) => i > 0 && id !== arrivals[i - 1]).length;
}

describe("concurrency", () => {
  test("interleaving - 2 tenants × 10 concurrent queries on shared workers each get exactly their own rows", async () => {
    const s = stack();
    const expected = new Map<Tenant, (string | null)[][]>();
    for (const tenant of Object.keys(TENANTS) as Tenant[]) expected.set(tenant, (await s.tenantRows(tenant, GRID_SQL, [null])).rows);

    const clients: SluiceClient[] = [];
    try {
      const runs: Promise<Collected>[] = [];
      const arrivals = new Map<Tenant, string[]>();
      for (const tenant of Object.keys(TENANTS) as Tenant[]) {
        const client = await connect({ url: s.url, token: await s.token(tenant), WebSocket });
        clients.push(client);
        const onSocket: string[] = [];
        arrivals.set(tenant, onSocket);
        for (let i = 0; i < QUERIES_PER_SOCKET; i++) {
          const after = i * 397;
          runs.push(collect(tenant, after, client.query("grid", { after: String(after) }), onSocket));
        }
      }
      const results = await Promise.all(runs);

      expect(results).toHaveLength(2 * QUERIES_PER_SOCKET);
      for (const result of results) {
        const own = (expected.get(result.tenant) ?? []).filter((row) => Number(row[0]) > result.after);
        const label = `${result.tenant} after ${result.after}`;
        expect(own.length, label).toBe(TENANTS[result.tenant].rows - result.after);
        expect(result.rows.filter((row) => row[1] !== result.tenant), `${label}: rows of another tenant`).toEqual([]);
        expect(result.rows.length, label).toBe(own.length);
        expect(result.reportedRows, label).toBe(own.length);
        expect(result.rows, label).toEqual(own);
      }
      // Sequential delivery would switch requests at most 9 times per socket.
      for (const [tenant, onSocket] of arrivals) expect(switches(onSocket), `${tenant}: chunk order ${onSocket.join(" ")}`).toBeGreaterThan(QUERIES_PER_SOCKET - 1);
    } finally {
      for (const client of clients) client.close();
    }

    const completed = await Promise.all(s.workers.map(async (w) => metricTotal(await scrapeMetrics(w.port), "sluice_worker_requests_total", { outcome: "completed" })));
    expect(completed.every((n) => n > 0), `completed requests per worker: ${completed.join(", ")}`).toBe(true);
    expect(completed.reduce((a, b) => a + b, 0)).toBe(2 * QUERIES_PER_SOCKET);
  });

  test("edges - a second edge serves the same workers, each tenant still seeing only its own rows", async () => {
    const s = stack();
    expect(s.urls).toHaveLength(2);
    for (const tenant of Object.keys(TENANTS) as Tenant[]) {
      const client = await connect({ url: s.urls[1] ?? "", token: await s.token(tenant), WebSocket });
      try {
        const after = TENANTS[tenant].rows - 250;
        const stream = client.query("grid", { after: String(after) });
        // The planner's estimate for an analyzed table's key range is close to the real count.
        const { estimatedRows } = await stream.meta;
        expect(estimatedRows).toBeGreaterThan(125);
        expect(estimatedRows).toBeLessThan(500);
        const result = await collect(tenant, after, stream, []);
        expect(result.rows).toEqual((await s.tenantRows(tenant, GRID_SQL, [String(after)])).rows);
        expect(result.rows.map((row) => row[1])).toEqual(Array.from({ length: 250 }, () => tenant));
      } finally {
        client.close();
      }
    }
  });
});
