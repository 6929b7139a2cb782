import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect, type SluiceClient } from "@sluice/client";
import { parseCsvRows } from "@sluice/protocol";
import { findPgBouncer, startPgBouncer, type PgBouncer } from "./fixtures/pgbouncer.js";
import { obtainTestServices } from "./fixtures/services.js";
import { useTestStack, type TestStack } from "./fixtures/stack.js";

/**
 * Ten tenants, each a schema with a table of the same name whose every row says whose it is.
 * 200 requests at once, 20 per tenant, over two workers whose six connections are far fewer than
 * the requests: every result must be complete and hold only its own tenant's rows. Then the same
 * with the workers behind a real PgBouncer in transaction mode, whose four server connections
 * carry the transactions of every tenant in turn.
 */

const TENANTS = Array.from({ length: 10 }, (_, i) => `t${String(i + 1).padStart(2, "0")}`);
const REQUESTS_PER_TENANT = 20;
const SQL = "SELECT id, owner, v, pad FROM items WHERE id > $1::int ORDER BY id";
const rowsOf = (tenant: string): number => 600 + 97 * TENANTS.indexOf(tenant);

const STACK = {
  workers: 2,
  pool: 3,
  env: { SLUICE_CHUNK_BYTES: "8192", SLUICE_WINDOW: "4" },
  datasets: { items: { sql: SQL, params: [{ name: "after", type: "int4", required: true }], key: "id" } },
  setup: async (db: { query(sql: string): Promise<unknown> }) => {
    for (const tenant of TENANTS) {
      await db.query(`CREATE SCHEMA ${tenant}`);
      await db.query(
        `CREATE TABLE ${tenant}.items AS SELECT n AS id, '${tenant}'::text AS owner, md5('${tenant}' || n) AS v, repeat('x', n % 50) AS pad
         FROM generate_series(1, ${rowsOf(tenant)}) n`,
      );
    }
  },
};

interface Outcome {
  readonly tenant: string;
  readonly after: number;
  readonly rows: (string | null)[][];
}

async function collect(client: SluiceClient, tenant: string, after: number): Promise<Outcome> {
  const stream = client.query("items", { after: String(after) });
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let csv = "";
  for await (const chunk of stream) csv += decoder.decode(chunk.data, { stream: true });
  return { tenant, after, rows: parseCsvRows(csv) };
}

/** 200 requests at once, 20 per tenant on a socket of its own; checks every result row by row. */
async function interleaved(s: TestStack): Promise<void> {
  const expected = new Map<string, (string | null)[][]>();
  for (const tenant of TENANTS) expected.set(tenant, (await s.tenantRows(tenant, SQL, ["0"])).rows);
  const clients: SluiceClient[] = [];
  try {
    const runs: Promise<Outcome>[] = [];
    for (const tenant of TENANTS) {
      const client = await connect({ url: s.url, token: await s.token(tenant), WebSocket });
      clients.push(client);
      for (let i = 0; i < REQUESTS_PER_TENANT; i++) runs.push(collect(client, tenant, i * 29));
    }
    const outcomes = await Promise.all(runs);
    expect(outcomes).toHaveLength(TENANTS.length * REQUESTS_PER_TENANT);
    for (const { tenant, after, rows } of outcomes) {
      const label = `${tenant} after ${after}`;
      expect(rows.filter((row) => row[1] !== tenant), `${label}: rows of another tenant`).toEqual([]);
      expect(rows.length, label).toBe(rowsOf(tenant) - after);
      expect(rows, label).toEqual((expected.get(tenant) ?? []).filter((row) => Number(row[0]) > after));
    }
  } finally {
    for (const client of clients) client.close();
  }
}

describe("tenants", () => {
  describe("direct", () => {
    const stack = useTestStack(STACK);

    test("isolation - 10 tenants × 20 interleaved requests on 6 connections: every result complete and only its tenant's", async () => {
      await interleaved(stack());
    });
  });

  const pgbouncer = findPgBouncer();
  if (!pgbouncer && process.env.CI) throw new Error("CI must install pgbouncer (apt-get install pgbouncer)");
  if (!pgbouncer) console.warn("pgbouncer is not installed (apt-get install pgbouncer): the PgBouncer isolation test is skipped");
  describe.skipIf(!pgbouncer)("through PgBouncer in transaction mode", () => {
    const POOL_SIZE = 4;
    let bouncer: PgBouncer | undefined;
    beforeAll(async () => {
      bouncer = await startPgBouncer({ serverUrl: (await obtainTestServices()).adminUrl, poolSize: POOL_SIZE });
    });
    // Registered before the stack's: after-hooks run in reverse, so PgBouncer stops last.
    afterAll(async () => {
      await bouncer?.stop();
    });
    const stack = useTestStack({ ...STACK, workerDatabaseUrl: (url) => bouncer!.via(url) });

    test("isolation - the same 200 requests through 4 PgBouncer server connections: one request, one transaction", async () => {
      const s = stack();
      await interleaved(s);
      const pool = (await bouncer!.pools()).find((p) => p.database === s.databaseName);
      expect(pool, "the workers' connections went through PgBouncer").toBeDefined();
      expect(pool!.pool_mode).toBe("transaction");
      const servers = Number(pool!.sv_active) + Number(pool!.sv_idle) + Number(pool!.sv_used) + Number(pool!.sv_tested) + Number(pool!.sv_login);
      expect(servers).toBeGreaterThan(0);
      expect(servers).toBeLessThanOrEqual(POOL_SIZE);
    });
  });
});
