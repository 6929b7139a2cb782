import pg from "pg";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "@sluice/config";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { demoConfigYaml } from "./demo-config.js";
import { loadDemoData, tenantSeed } from "./demo-data.js";
import { DevstackError } from "./errors.js";
import { createTestDatabase, obtainTestServices, type TestDatabase } from "../../../test/fixtures/services.js";

const ROWS = 500;
const TYPE_NAMES: Record<string, string> = {
  int4: "integer",
  "numeric(12,2)": "numeric(12,2)",
  text: "text",
  timestamptz: "timestamp with time zone",
  float8: "double precision",
  bool: "boolean",
  int8: "bigint",
  "varchar(40)": "character varying(40)",
};
const KINDS = ["int4", "numeric(12,2)", "text", "timestamptz", "float8", "bool", "int8", "varchar(40)"];

describe("loadDemoData", () => {
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase((await obtainTestServices()).adminUrl);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  test("loadDemoData - creates each tenant's grid with id plus 199 typed columns and the rows asked for", async () => {
    const loads = await loadDemoData(db.url, { tenants: ["acme", "globex"], rows: ROWS });
    expect(loads.map((l) => [l.tenant, l.loaded, l.rows])).toEqual([["acme", true, ROWS], ["globex", true, ROWS]]);
    for (const tenant of ["acme", "globex"]) {
      const columns = await client.query<{ attname: string; type: string }>(
        `SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
         WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        [`${tenant}.grid`],
      );
      expect(columns.rows).toHaveLength(200);
      expect(columns.rows[0]).toEqual({ attname: "id", type: "bigint" });
      columns.rows.slice(1).forEach((column, i) => {
        const k = i + 1;
        expect(column).toEqual({ attname: `c${String(k).padStart(3, "0")}`, type: TYPE_NAMES[KINDS[k % 8] ?? ""] });
      });
      const count = await client.query(`SELECT count(*)::int AS n, min(id)::int AS lo, max(id)::int AS hi FROM ${tenant}.grid`);
      expect(count.rows[0]).toEqual({ n: ROWS, lo: 1, hi: ROWS });
      const info = await client.query(`SELECT tenant, rows::int, seed FROM ${tenant}.tenant_info`);
      expect(info.rows).toEqual([{ tenant, rows: ROWS, seed: tenantSeed(tenant) }]);
    }
  });

  test("loadDemoData - values follow the generator, with NULLs and CSV-hostile text", async () => {
    const row = await client.query(
      "SELECT c008, c006::text, extract(epoch FROM c003)::int8::text AS c003, c005, c013, c001::text FROM acme.grid WHERE id = 1",
    );
    // 1704067200 is 2024-01-01T00:00:00Z; column k of row 1 adds k seconds. (1 + 5) % 3 = 0, (1 + 13) % 3 ≠ 0.
    expect(row.rows[0]).toEqual({ c008: 8, c006: "6000018", c003: "1704067203", c005: true, c013: false, c001: "0.01" });
    const text = await client.query(
      "SELECT count(*) FILTER (WHERE c002 IS NULL)::int AS nulls, count(*) FILTER (WHERE c002 = 'a,\"b\"')::int AS quoted FROM acme.grid",
    );
    expect(text.rows[0].nulls).toBeGreaterThan(0);
    expect(text.rows[0].quoted).toBeGreaterThan(0);
  });

  test("loadDemoData - tenants get different text values", async () => {
    expect(tenantSeed("acme")).not.toBe(tenantSeed("globex"));
    const diff = await client.query(
      "SELECT count(*)::int AS n FROM acme.grid a JOIN globex.grid g USING (id) WHERE a.c002 IS DISTINCT FROM g.c002",
    );
    expect(diff.rows[0].n).toBeGreaterThan(ROWS / 2);
  });

  test("loadDemoData - a rerun with the same row count leaves the data alone; another count reloads", async () => {
    const before = await client.query("SELECT loaded_at FROM acme.tenant_info");
    const again = await loadDemoData(db.url, { tenants: ["acme", "globex"], rows: ROWS });
    expect(again.map((l) => l.loaded)).toEqual([false, false]);
    expect((await client.query("SELECT loaded_at FROM acme.tenant_info")).rows).toEqual(before.rows);
    const resized = await loadDemoData(db.url, { tenants: ["acme"], rows: 20 });
    expect(resized.map((l) => l.loaded)).toEqual([true]);
    expect((await client.query("SELECT count(*)::int AS n FROM acme.grid")).rows[0]).toEqual({ n: 20 });
    await loadDemoData(db.url, { tenants: ["acme"], rows: ROWS });
  });

  test("loadDemoData - refuses to replace a schema it did not create", async () => {
    await client.query("CREATE SCHEMA someone_else; CREATE TABLE someone_else.precious (v int)");
    const error = await loadDemoData(db.url, { tenants: ["someone_else"], rows: 10 }).catch((e: unknown) => e);
    expect((error as DevstackError).code).toBe("DEMO_DATA_CONFLICT");
    expect((await client.query("SELECT to_regclass('someone_else.precious') IS NOT NULL AS kept")).rows[0]).toEqual({ kept: true });
  });

  test("loadDemoData - refuses tenant names that are not plain schema names", async () => {
    await expect(loadDemoData(db.url, { tenants: ['x"; DROP'], rows: 1 })).rejects.toThrow(RangeError);
  });

  test("demoConfigYaml - is a valid config whose grid dataset reads every row when `after` is unset", async () => {
    const config = parseConfig(parseYaml(demoConfigYaml()), { env: { DATABASE_URL: db.url } });
    expect(config.databases.main).toEqual({ url: db.url, role: "primary", pool: 10 });
    const grid = config.datasets.grid;
    expect(grid).toMatchObject({ database: "main", key: "id", params: [{ name: "after", type: "int8", required: false }] });
    await client.query("BEGIN");
    try {
      await client.query("SET LOCAL search_path TO acme");
      const all = await client.query(grid?.sql ?? "", [null]);
      expect(all.rowCount).toBe(ROWS);
      const tail = await client.query(grid?.sql ?? "", ["490"]);
      expect(tail.rows.map((r: { id: string }) => Number(r.id))).toEqual([491, 492, 493, 494, 495, 496, 497, 498, 499, 500]);
    } finally {
      await client.query("ROLLBACK");
    }
  });
});
