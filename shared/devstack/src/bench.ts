/**
 * `npm run bench`: side by side on one generated grid (default 100,000 × 200), medians of
 * SLUICE_BENCH_RUNS (default 3) runs:
 *   - the floor: PostgreSQL's COPY … CSV to /dev/null through psql;
 *   - a direct single-process pg-cursor read that parses every field (the naive Node way);
 *   - Sluice end to end, CSV and NDJSON: client ← edge ← NATS JetStream ← worker ← PostgreSQL.
 * Uses DATABASE_URL / NATS_URL when set, else starts PostgreSQL and NATS as `npm start` does.
 */
import { execFile } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import WebSocket from "ws";
import { connect } from "@sluice/client";
import { freePort } from "./free-port.js";
import { gridTableSql } from "./grid.js";
import { obtainNats } from "./nats.js";
import { ensureDatabase, obtainPostgres, withDatabase } from "./postgres.js";
import { repoRoot, stateDir } from "./paths.js";
import { peakRssMb } from "./proc-stats.js";
import { startService, type ServiceProcess } from "./processes.js";
import { mintToken } from "./token.js";

const ROWS = Number(process.env.SLUICE_BENCH_ROWS ?? 100_000);
const RUNS = Number(process.env.SLUICE_BENCH_RUNS ?? 3);
const SCHEMA = "bench";
const SQL = "SELECT * FROM grid ORDER BY id";
const SECRET = "bench-secret-bench-secret";

interface Measure {
  ms: number;
  bytes: number;
  firstChunkMs?: number;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

function say(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function prepareGrid(adminUrl: string): Promise<string> {
  await ensureDatabase(adminUrl, "sluice_bench");
  const url = withDatabase(adminUrl, "sluice_bench");
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const found = await client.query(
      `SELECT (SELECT count(*) FROM ${SCHEMA}.grid)::int AS n WHERE to_regclass('${SCHEMA}.grid') IS NOT NULL`,
    ).catch(() => ({ rows: [] as { n: number }[] }));
    if (found.rows[0]?.n === ROWS) return url;
    say(`generating ${ROWS.toLocaleString("en")} × 200 rows…`);
    await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA}; SET search_path = ${SCHEMA}`);
    await client.query(gridTableSql(ROWS));
    await client.query("ANALYZE grid");
    return url;
  } finally {
    await client.end();
  }
}

async function copyFloor(url: string): Promise<Measure> {
  const started = performance.now();
  const { stdout } = await promisify(execFile)(
    "sh",
    ["-c", `psql "$0" -Atc "SET search_path = ${SCHEMA}" -c "COPY (${SQL}) TO STDOUT WITH (FORMAT csv, HEADER true)" | wc -c`, url],
    { maxBuffer: 1024 },
  );
  return { ms: performance.now() - started, bytes: Number(stdout.trim()) };
}

async function directCursor(url: string): Promise<Measure & { peakRssMb: number }> {
  const script = join(repoRoot(), "shared", "devstack", "dist", "bench-cursor.js");
  const { stdout } = await promisify(execFile)(process.execPath, [script, url, SCHEMA, SQL]);
  return JSON.parse(stdout) as Measure & { peakRssMb: number };
}

async function sluiceExport(url: string, token: string, format: "csv" | "ndjson"): Promise<Measure> {
  const started = performance.now();
  const client = await connect({ url, token, WebSocket: WebSocket as never });
  const sink = createWriteStream("/dev/null");
  let bytes = 0;
  let firstChunkMs: number | undefined;
  try {
    for await (const chunk of client.query("grid", {}, { format })) {
      firstChunkMs ??= performance.now() - started;
      bytes += chunk.data.length;
      if (!sink.write(chunk.data)) await new Promise<void>((resolve) => sink.once("drain", () => resolve()));
    }
  } finally {
    client.close();
    sink.end();
  }
  return { ms: performance.now() - started, bytes, firstChunkMs };
}

async function repeat<T extends Measure>(label: string, run: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < RUNS; i++) {
    results.push(await run());
    say(`${label} run ${i + 1}: ${(results.at(-1)!.ms / 1000).toFixed(2)} s`);
  }
  return results;
}

async function startSluice(databaseUrl: string, natsUrl: string, dir: string): Promise<{ edge: ServiceProcess; worker: ServiceProcess }> {
  const config = join(dir, "sluice.yaml");
  writeFileSync(config, `databases:\n  main: { url: "\${DATABASE_URL}", pool: 4 }\ndatasets:\n  grid:\n    sql: ${SQL}\n    key: id\n`);
  const env = {
    DATABASE_URL: databaseUrl,
    NATS_URL: natsUrl,
    SLUICE_CONFIG: config,
    SLUICE_JWT_SECRET: SECRET,
    SLUICE_NATS_PREFIX: `bench${process.pid}`,
    SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? "warn",
  };
  const onLine = (line: string): void => void (process.env.SLUICE_LOG_LEVEL && process.stderr.write(`${line}\n`));
  const edge = await startService("edge", { ...env, SLUICE_EDGE_PORT: String(await freePort()) }, { onLine });
  const worker = await startService("worker", { ...env, SLUICE_WORKER_PORT: String(await freePort()) }, { onLine });
  await Promise.all([edge.ready, worker.ready]);
  return { edge, worker };
}

function row(cells: string[]): string {
  const widths = [34, 9, 9, 8, 12, 22, 8];
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 10) : cell.padStart(widths[i] ?? 10))).join(" ");
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-"));
  const pgService = await obtainPostgres({ url: process.env.DATABASE_URL, dataDir: join(stateDir(), "pg") });
  const nats = await obtainNats({ url: process.env.NATS_URL, storeDir: join(dir, "nats") });
  let services: { edge: ServiceProcess; worker: ServiceProcess } | undefined;
  const interrupted = (): void => {
    void Promise.allSettled([services?.edge.stop(), services?.worker.stop(), nats.stop(), pgService.stop()]).then(() => process.exit(130));
  };
  process.once("SIGINT", interrupted).once("SIGTERM", interrupted);
  try {
    const url = await prepareGrid(pgService.url);
    services = await startSluice(url, nats.url, dir);
    const token = await mintToken(SECRET, SCHEMA, { sub: "bench" });
    const wsUrl = `ws://127.0.0.1:${services.edge.port}`;

    const copy = await repeat("COPY", () => copyFloor(url));
    const direct = await repeat("pg-cursor", () => directCursor(url));
    const csv = await repeat("Sluice CSV", () => sluiceExport(wsUrl, token, "csv"));
    const ndjson = await repeat("Sluice NDJSON", () => sluiceExport(wsUrl, token, "ndjson"));
    const floor = median(copy.map((m) => m.ms));
    const edgeRss = peakRssMb(services.edge.pid);
    const workerRss = peakRssMb(services.worker.pid);

    const line = (name: string, results: Measure[], rss: string): string => {
      const ms = median(results.map((m) => m.ms));
      const bytes = results[0]?.bytes ?? 0;
      const first = results.every((m) => m.firstChunkMs !== undefined) ? `${median(results.map((m) => m.firstChunkMs ?? 0)).toFixed(0)} ms` : "-";
      return row([name, (ms / 1000).toFixed(2), (bytes / 1e6).toFixed(1), (bytes / 1e6 / (ms / 1000)).toFixed(0), first, rss, `${(ms / floor).toFixed(2)}×`]);
    };
    const out = [
      `Sluice bench: ${ROWS.toLocaleString("en")} rows × 200 columns, median of ${RUNS} runs, node ${process.version}`,
      row(["case", "wall s", "MB", "MB/s", "1st chunk", "peak RSS MB", "vs COPY"]),
      line("COPY csv → /dev/null (psql)", copy, "-"),
      line("pg-cursor, parse + JSON (1 proc)", direct, `${median(direct.map((m) => m.peakRssMb)).toFixed(0)}`),
      line("Sluice CSV (client←edge←worker)", csv, `edge ${edgeRss.toFixed(0)} wkr ${workerRss.toFixed(0)}`),
      line("Sluice NDJSON", ndjson, `edge ${edgeRss.toFixed(0)} wkr ${workerRss.toFixed(0)}`),
      "Peak RSS of edge and worker is over the whole bench (all runs, both formats).",
    ];
    process.stdout.write(`${out.join("\n")}\n`);
  } finally {
    await Promise.allSettled([services?.edge.stop(), services?.worker.stop()]);
    await nats.stop();
    await pgService.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
