import type pg from "pg";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { WebSocket } from "ws";
import { connect, type SluiceClient } from "@sluice/client";
import { SluiceError } from "@sluice/protocol";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { findPgBouncer, startPgBouncer, type PgBouncer } from "./fixtures/pgbouncer.js";
import { obtainTestServices } from "./fixtures/services.js";
import { useTestStack, type TestStack } from "./fixtures/stack.js";

/**
 * Requests that try to leave state on their connection. One worker with one connection, so each
 * request gets the connection the one before it had, unless the worker closed it: after every
 * lease the connection is proven clean, or closed.
 */

const TENANT = "acme";

const STACK = {
  workers: 1,
  pool: 1,
  datasets: {
    probe: {
      sql: `SELECT pg_backend_pid() AS pid, current_setting('work_mem') AS work_mem,
                   (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory_locks,
                   (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()) AS temp_objects,
                   (SELECT count(*) FROM pg_prepared_statements) AS prepared,
                   (SELECT count(*) FROM pg_cursors WHERE is_holdable) AS held_cursors`,
    },
    session_settings: { sql: "SELECT set_config('work_mem', '7777kB', false) AS work_mem, set_config('search_path', 'public', false) AS search_path" },
    failing: { sql: "SELECT n, 1 / (n - 3) AS boom FROM generate_series(1, 5) n" },
    failing_after_set: { sql: "SELECT set_config('work_mem', '8888kB', false) AS work_mem, 1 / 0 AS boom" },
    temp_table: { sql: "SELECT acme.leave_temp_table() AS made" },
    advisory_lock: { sql: "SELECT pg_advisory_lock(4242)::text AS locked" },
  },
  setup: async (db: pg.Client) => {
    await db.query(`CREATE SCHEMA ${TENANT}`);
    await db.query(`CREATE FUNCTION acme.leave_temp_table() RETURNS int LANGUAGE plpgsql AS $$
      BEGIN CREATE TEMP TABLE leftover (x int); RETURN 1; END $$`);
  },
};

interface Probe {
  readonly pid: string;
  readonly work_mem: string;
  readonly advisory_locks: string;
  readonly temp_objects: string;
  readonly prepared: string;
  readonly held_cursors: string;
}

/** The request's rows as objects, or the code of the error that ended it. */
async function run(client: SluiceClient, dataset: string): Promise<Record<string, unknown>[] | string> {
  try {
    const rows: Record<string, unknown>[] = [];
    for await (const row of client.query(dataset, {}, { format: "ndjson" }).rows()) rows.push(row as Record<string, unknown>);
    return rows;
  } catch (error) {
    if (error instanceof SluiceError) return error.code;
    throw error;
  }
}

async function probe(client: SluiceClient): Promise<Probe> {
  const rows = await run(client, "probe");
  if (typeof rows === "string") throw new Error(`probe failed with ${rows}`);
  const row = rows[0] as Record<string, unknown>;
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, String(v)])) as unknown as Probe;
}

/** The requests that try to leave state, each followed by a probe of the next lease. */
async function leaveState(client: SluiceClient, clean: Omit<Probe, "pid">): Promise<{ first: Probe; afterLock: Probe }> {
  const first = await probe(client);
  expect(first).toMatchObject(clean);

  // Session-level settings made inside the request's transaction die with its rollback.
  expect(await run(client, "session_settings")).toEqual([{ work_mem: "7777kB", search_path: "public" }]);
  expect(await probe(client)).toEqual({ ...clean, pid: first.pid });

  // A query failing mid-stream leaves an aborted transaction; it is rolled back.
  expect(await run(client, "failing")).toBe("QUERY_FAILED");
  expect(await run(client, "failing_after_set")).toBe("QUERY_FAILED");
  expect(await probe(client)).toEqual({ ...clean, pid: first.pid });

  // The transaction is read-only: no temp table can be made to outlive it.
  expect(await run(client, "temp_table")).toBe("QUERY_FAILED");
  expect(await probe(client)).toEqual({ ...clean, pid: first.pid });

  // A session advisory lock survives a rollback: it is released before, and the connection closed.
  expect(await run(client, "advisory_lock")).toEqual([{ locked: "" }]);
  const afterLock = await probe(client);
  expect(afterLock).toMatchObject(clean);
  return { first, afterLock };
}

async function cleanProbe(s: TestStack): Promise<Omit<Probe, "pid">> {
  const serverWorkMem = (await s.sql<{ work_mem: string }>("SHOW work_mem")).rows[0]!.work_mem;
  return { work_mem: serverWorkMem, advisory_locks: "0", temp_objects: "0", prepared: "0", held_cursors: "0" };
}

async function discarded(s: TestStack, reason: string): Promise<number> {
  return metricTotal(await scrapeMetrics(s.workers[0]!.port), "sluice_worker_leases_discarded_total", { reason });
}

describe("lease hygiene", () => {
  describe("direct", () => {
    const stack = useTestStack(STACK);

    test("state a request leaves is undone or its connection closed; the next request always starts clean", async () => {
      const s = stack();
      const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
      try {
        const { first, afterLock } = await leaveState(client, await cleanProbe(s));
        // The lock's connection was closed, not reused.
        expect(afterLock.pid).not.toBe(first.pid);
        await vi.waitFor(async () => expect((await s.sql("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [Number(first.pid)])).rowCount).toBe(0));
      } finally {
        client.close();
      }
      expect(await discarded(s, "leftovers")).toBe(1);
      expect(await discarded(s, "broken")).toBe(0);
    });
  });

  const pgbouncer = findPgBouncer();
  describe.skipIf(!pgbouncer)("through PgBouncer in transaction mode, one server connection", () => {
    let bouncer: PgBouncer | undefined;
    beforeAll(async () => {
      bouncer = await startPgBouncer({ serverUrl: (await obtainTestServices()).adminUrl, poolSize: 1 });
    });
    afterAll(async () => {
      await bouncer?.stop();
    });
    const stack = useTestStack({ ...STACK, workerDatabaseUrl: (url) => bouncer!.via(url) });

    test("the server connection PgBouncer gives every transaction is cleaned in the request's own transaction", async () => {
      const s = stack();
      const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
      try {
        const { first, afterLock } = await leaveState(client, await cleanProbe(s));
        // PgBouncer kept its one server connection: the lock was released on it, not left behind.
        expect(afterLock.pid).toBe(first.pid);
      } finally {
        client.close();
      }
      expect(await discarded(s, "leftovers")).toBe(1);
    });
  });
});
