// Loads the demo data (tenants acme and globex, each a schema with a 100,000 × 200 `grid`) into the
// database at DATABASE_URL, with the same loader as `npm start`. Idempotent: a tenant already
// holding the current demo data is left alone, so the one-shot compose service can run on every
// `docker compose up`. Run by the image's `demo-data` target (see deploy/Dockerfile).
//
//   DATABASE_URL=postgres://… [DEMO_ROWS=100000] [DEMO_TENANTS=acme,globex] node deploy/load-demo-data.mjs
//
// DATABASE_URL should reach PostgreSQL directly: each tenant loads in one long transaction.

import { DEMO_ROWS, DEMO_TENANTS, loadDemoData } from "@sluice/devstack";

function settings(env) {
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) throw new Error("DATABASE_URL is required");
  const rows = env.DEMO_ROWS === undefined ? DEMO_ROWS : Number(env.DEMO_ROWS);
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error(`DEMO_ROWS must be a positive integer, not "${env.DEMO_ROWS}"`);
  const tenants = env.DEMO_TENANTS ? env.DEMO_TENANTS.split(",").map((t) => t.trim()) : DEMO_TENANTS;
  return { databaseUrl, rows, tenants };
}

try {
  const { databaseUrl, rows, tenants } = settings(process.env);
  const loads = await loadDemoData(databaseUrl, { rows, tenants, onProgress: (line) => console.log(line) });
  console.log(`demo data ready: ${loads.map((l) => `${l.tenant} (${l.loaded ? "loaded" : "already there"})`).join(", ")}`);
} catch (error) {
  console.error(`load-demo-data: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
