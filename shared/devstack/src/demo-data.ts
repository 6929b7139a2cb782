import pg from "pg";
import { DevstackError } from "./errors.js";
import { gridTableSql } from "./grid.js";

/** Tenants of the demo, each a schema. */
export const DEMO_TENANTS: readonly string[] = Object.freeze(["acme", "globex"]);
/** Rows in each tenant's grid. Default 100,000. */
export const DEMO_ROWS = 100_000;
/** Bumped whenever the generator changes, so older demo data is reloaded. */
export const DEMO_DATA_VERSION = 1;

export interface DemoDataOptions {
  /** Default DEMO_TENANTS. */
  readonly tenants?: readonly string[];
  /** Default DEMO_ROWS. */
  readonly rows?: number;
  /** Receives one line per step, for people watching. */
  readonly onProgress?: (message: string) => void;
}

/** What happened to one tenant's schema. */
export interface TenantLoad {
  readonly tenant: string;
  readonly rows: number;
  readonly seed: number;
  /** False when the schema already held this demo data and was left alone. */
  readonly loaded: boolean;
  readonly ms: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A stable per-tenant seed in 1..996 (FNV-1a of the name), so each tenant's text differs. */
export function tenantSeed(tenant: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(tenant, "utf8")) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return (hash % 996) + 1;
}

type SchemaState = "absent" | "current" | "stale" | "foreign";

async function schemaState(client: pg.Client, tenant: string, rows: number): Promise<SchemaState> {
  const found = await client.query<{ schema: boolean; info: boolean }>(
    "SELECT to_regnamespace($1) IS NOT NULL AS schema, to_regclass(format('%I.tenant_info', $1::text)) IS NOT NULL AS info",
    [tenant],
  );
  const { schema, info } = found.rows[0] ?? { schema: false, info: false };
  if (!schema) return "absent";
  if (!info) return "foreign";
  const loaded = await client.query<{ rows: string; version: number }>(
    `SELECT rows::text, version FROM ${pg.escapeIdentifier(tenant)}.tenant_info`,
  );
  const row = loaded.rows[0];
  return row && Number(row.rows) === rows && row.version === DEMO_DATA_VERSION ? "current" : "stale";
}

async function fillSchema(client: pg.Client, tenant: string, rows: number, seed: number): Promise<void> {
  const schema = pg.escapeIdentifier(tenant);
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET LOCAL search_path TO ${schema}`);
  await client.query(gridTableSql(rows, seed));
  await client.query(
    `CREATE TABLE tenant_info (
       tenant text PRIMARY KEY, rows int8 NOT NULL, seed int4 NOT NULL, version int4 NOT NULL,
       loaded_at timestamptz NOT NULL DEFAULT now())`,
  );
  await client.query("INSERT INTO tenant_info (tenant, rows, seed, version) VALUES ($1, $2, $3, $4)", [
    tenant,
    rows,
    seed,
    DEMO_DATA_VERSION,
  ]);
  // Statistics on all 200 columns take longer than the load; the planner only needs id's.
  await client.query("ANALYZE grid (id)");
}

/** Loads one tenant in one transaction, so a half-loaded schema is never visible or mistaken for done. */
async function loadTenant(
  client: pg.Client,
  tenant: string,
  rows: number,
  progress: (message: string) => void,
): Promise<TenantLoad> {
  const started = Date.now();
  const seed = tenantSeed(tenant);
  await client.query("BEGIN");
  try {
    // Two stacks starting at once against one database must not both drop and fill a schema.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('sluice.demo-data'))");
    await client.query("SET LOCAL statement_timeout = 0");
    const state = await schemaState(client, tenant, rows);
    if (state === "foreign") {
      throw new DevstackError("DEMO_DATA_CONFLICT", `schema "${tenant}" exists but was not created by the demo loader; drop it or use another database`);
    }
    if (state === "current") {
      await client.query("COMMIT");
      progress(`${tenant}: demo data already loaded (${rows.toLocaleString("en-US")} rows)`);
      return { tenant, rows, seed, loaded: false, ms: Date.now() - started };
    }
    progress(`${tenant}: loading ${rows.toLocaleString("en-US")} rows × 200 columns…`);
    await fillSchema(client, tenant, rows, seed);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
  const ms = Date.now() - started;
  progress(`${tenant}: loaded in ${(ms / 1000).toFixed(1)} s`);
  return { tenant, rows, seed, loaded: true, ms };
}

/**
 * Creates, per tenant, a schema with the demo `grid` and a `tenant_info` row. Idempotent: a schema
 * already holding this version of the data with the same row count is left alone.
 */
export async function loadDemoData(databaseUrl: string, options: DemoDataOptions = {}): Promise<TenantLoad[]> {
  const tenants = options.tenants ?? DEMO_TENANTS;
  const rows = options.rows ?? DEMO_ROWS;
  for (const tenant of tenants) {
    if (!SCHEMA_NAME.test(tenant)) throw new RangeError(`tenant "${tenant}" is not a valid schema name (${SCHEMA_NAME.source})`);
  }
  const progress = options.onProgress ?? (() => undefined);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const results: TenantLoad[] = [];
    for (const tenant of tenants) results.push(await loadTenant(client, tenant, rows, progress));
    return results;
  } finally {
    await client.end();
  }
}
