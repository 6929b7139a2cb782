import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, test, vi } from "vitest";
import { WebSocket } from "ws";
import { connect, type SluiceClient } from "@sluice/client";
import { SluiceError } from "@sluice/protocol";
import { AUDIT_TABLE_SQL } from "../services/worker/src/audit.js";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { obtainTestServices } from "./fixtures/services.js";
import { useTestStack, type TestStack } from "./fixtures/stack.js";

/**
 * Datasets read the database they name (here a replica holding data the primary lacks), and every
 * request leaves one record in the audit database, whatever its end: completed, failed or
 * cancelled. Records made while the audit database is down are written once it is back.
 */

const TENANT = "acme";

// The workers write audit records as a role that may only insert into the audit table.
const AUDIT_ROLE = `sluice_audit_${randomBytes(4).toString("hex")}`;
afterAll(async () => {
  const admin = new pg.Client({ connectionString: (await obtainTestServices()).adminUrl });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${AUDIT_ROLE}`).finally(() => admin.end());
});

const stack = useTestStack({
  workers: 2,
  env: { SLUICE_WINDOW: "2", SLUICE_CHUNK_BYTES: "16384" },
  datasets: {
    items: { sql: "SELECT id, note FROM items WHERE id > $1::int ORDER BY id", params: [{ name: "after", type: "int4", required: true }], key: "id" },
    broken: { sql: "SELECT n, 1 / (n - 5) AS boom FROM generate_series(1, 10) n" },
    endless: { sql: "SELECT n, repeat('x', 500) AS pad FROM generate_series(1, 10000000) n" },
    archive: { database: "replica", sql: "SELECT id, note FROM archive ORDER BY id" },
  },
  databases: {
    replica: {
      role: "replica",
      setup: async (db) => {
        await db.query(`CREATE SCHEMA ${TENANT}`);
        await db.query(`CREATE TABLE ${TENANT}.archive AS SELECT n AS id, 'from the replica' AS note FROM generate_series(1, 50) n`);
      },
    },
    audit: {
      role: "audit",
      pool: 2,
      user: AUDIT_ROLE,
      setup: async (db) => {
        await db.query(`CREATE ROLE ${AUDIT_ROLE} LOGIN`);
        await db.query(AUDIT_TABLE_SQL);
        await db.query(`GRANT INSERT ON sluice_audit TO ${AUDIT_ROLE}`);
      },
    },
  },
  setup: async (db) => {
    await db.query(`CREATE SCHEMA ${TENANT}`);
    await db.query(`CREATE TABLE ${TENANT}.items AS SELECT n AS id, 'from the primary' AS note FROM generate_series(1, 3000) n`);
  },
});

interface AuditRow {
  request: string;
  tenant: string;
  subject: string;
  dataset: string;
  params_digest: string;
  rows: string;
  bytes: string;
  duration_ms: number;
  outcome: string;
  error_code: string | null;
}

async function auditRows(s: TestStack, subject: string): Promise<AuditRow[]> {
  const client = new pg.Client({ connectionString: s.databaseUrls.audit });
  await client.connect();
  try {
    const exists = (await client.query("SELECT to_regclass('public.sluice_audit') IS NOT NULL AS found")).rows[0] as { found: boolean };
    if (!exists.found) return [];
    return (await client.query<AuditRow>("SELECT * FROM sluice_audit WHERE subject = $1 ORDER BY started_at", [subject])).rows;
  } finally {
    await client.end();
  }
}

/** Reads a request to its end; resolves with the rows of the end frame, or the error code. */
async function drain(client: SluiceClient, dataset: string, params: Record<string, string> = {}): Promise<number | string> {
  const stream = client.query(dataset, params);
  try {
    for await (const chunk of stream) void chunk;
    return (await stream.result).rows;
  } catch (error) {
    if (error instanceof SluiceError) return error.code;
    throw error;
  }
}

const digest = (params: Record<string, string>): string => createHash("sha256").update(JSON.stringify(params)).digest("hex");

describe("databases and audit", () => {
  test("several databases - a dataset reads the database it names", async () => {
    const s = stack();
    const client = await connect({ url: s.url, token: await s.token(TENANT, "reader"), WebSocket });
    try {
      const rows: unknown[] = [];
      for await (const row of client.query("archive", {}, { format: "ndjson" }).rows()) rows.push(row);
      expect(rows).toHaveLength(50);
      expect(rows[0]).toEqual({ id: 1, note: "from the replica" });
    } finally {
      client.close();
    }
  });

  test("audit - one record per request: completed, failed and cancelled, with what each did", async () => {
    const s = stack();
    const subject = "auditor";
    const client = await connect({ url: s.url, token: await s.token(TENANT, subject), WebSocket });
    try {
      expect(await drain(client, "items", { after: "100" })).toBe(2900);
      expect(await drain(client, "broken")).toBe("QUERY_FAILED");
      const endless = client.query("endless", {}, { id: "endless" });
      for await (const chunk of endless) {
        void chunk;
        break; // leaving the loop cancels the request
      }
      await expect(endless.result).rejects.toMatchObject({ code: "CANCELLED" });
    } finally {
      client.close();
    }

    await vi.waitFor(async () => expect(await auditRows(s, subject)).toHaveLength(3), { timeout: 15_000, interval: 250 });
    const [completed, failed, cancelled] = await auditRows(s, subject);
    expect(completed).toMatchObject({ tenant: TENANT, subject, dataset: "items", outcome: "completed", error_code: null, rows: "2900", params_digest: digest({ after: "100" }) });
    expect(Number(completed!.bytes)).toBeGreaterThan(2900 * 10);
    expect(failed).toMatchObject({ dataset: "broken", outcome: "failed", error_code: "QUERY_FAILED", params_digest: digest({}) });
    expect(cancelled).toMatchObject({ dataset: "endless", outcome: "cancelled", error_code: "CANCELLED" });
    expect(cancelled!.request).toMatch(/\.endless$/);
    expect(Number(cancelled!.rows)).toBeLessThan(10_000_000);
    // Nothing but the digest of the parameters is kept.
    expect(JSON.stringify([completed, failed, cancelled])).not.toContain('"after"');
  });

  test("audit - requests the edge refuses before any worker sees them are recorded by the edge", async () => {
    const s = stack();
    const subject = "refused";
    const client = await connect({ url: s.url, token: await s.token(TENANT, subject), WebSocket });
    try {
      expect(await drain(client, "items", { after: "ten" })).toBe("PARAM_INVALID");
      expect(await drain(client, "no_such_dataset")).toBe("UNKNOWN_DATASET");
    } finally {
      client.close();
    }
    await vi.waitFor(async () => expect(await auditRows(s, subject)).toHaveLength(2), { timeout: 15_000, interval: 250 });
    const rows = await auditRows(s, subject);
    expect(rows.map((r) => [r.dataset, r.outcome, r.error_code]).sort()).toEqual([
      ["items", "failed", "PARAM_INVALID"],
      ["no_such_dataset", "failed", "UNKNOWN_DATASET"],
    ]);
    expect(rows.every((r) => String((r as unknown as { worker: string }).worker).startsWith("edge ") && r.rows === "0")).toBe(true);
  });

  test("audit outage - requests run on while the audit database is down; their records are written when it is back", async () => {
    const s = stack();
    const subject = "during-outage";
    const auditName = new URL(s.databaseUrls.audit!).pathname.slice(1);
    await s.sql(`ALTER DATABASE ${pg.escapeIdentifier(auditName)} ALLOW_CONNECTIONS false`);
    try {
      await s.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [auditName]);
      const failuresBefore = await auditFailures(s);
      const client = await connect({ url: s.url, token: await s.token(TENANT, subject), WebSocket });
      try {
        for (let i = 0; i < 5; i++) expect(await drain(client, "items", { after: String(2990 - i) })).toBe(10 + i);
      } finally {
        client.close();
      }
      // The writers tried, failed, and kept the records.
      await vi.waitFor(async () => expect(await auditFailures(s)).toBeGreaterThan(failuresBefore), { timeout: 15_000, interval: 250 });
    } finally {
      await s.sql(`ALTER DATABASE ${pg.escapeIdentifier(auditName)} ALLOW_CONNECTIONS true`);
    }
    await vi.waitFor(async () => expect(await auditRows(s, subject)).toHaveLength(5), { timeout: 20_000, interval: 250 });
    const rows = await auditRows(s, subject);
    expect(rows.map((r) => r.rows).sort()).toEqual(["10", "11", "12", "13", "14"]);
    expect(new Set(rows.map((r) => r.request)).size).toBe(5);
  });
});

async function auditFailures(s: TestStack): Promise<number> {
  const texts = await Promise.all(s.workers.map((w) => scrapeMetrics(w.port)));
  return texts.reduce((sum, text) => sum + metricTotal(text, "sluice_worker_audit_write_failures_total"), 0);
}
