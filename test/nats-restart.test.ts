import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { findNatsServer, freePort, gridTableSql, probeNats } from "@sluice/devstack";
import { exportDisrupted } from "./fixtures/export.js";
import { useTestStack } from "./fixtures/stack.js";

/**
 * A NATS server restarted mid-stream (file storage, same port) costs a pause, not data: the
 * result is still byte for byte COPY's. This test runs its own nats-server; the shared one is
 * never touched.
 */

const TENANT = "acme";
const ROWS = 6_000;
const GRID_SQL = "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";

const binary = findNatsServer();
if (!binary) throw new Error("nats-server is not installed (apt-get install nats-server)");
const port = await freePort();
const storeDir = mkdtempSync(join(tmpdir(), "sluice-nats-restart-"));
let server: ChildProcess | undefined;

async function startNats(): Promise<void> {
  server = spawn(binary as string, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    if ((await probeNats(`nats://127.0.0.1:${port}`, 500)).ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the private nats-server did not start");
}

async function stopNats(): Promise<void> {
  const running = server;
  server = undefined;
  if (!running || running.exitCode !== null) return;
  const exited = new Promise((resolve) => running.once("exit", resolve));
  running.kill("SIGTERM");
  await exited;
}

await startNats();
afterAll(async () => {
  await stopNats();
  rmSync(storeDir, { recursive: true, force: true });
});

const stack = useTestStack({
  workers: 1,
  natsUrl: `nats://127.0.0.1:${port}`,
  env: { SLUICE_WINDOW: "4", SLUICE_CHUNK_BYTES: "16384" },
  datasets: { grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" } },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme; SET search_path TO acme");
    await db.query(gridTableSql(ROWS, 9));
    await db.query("ANALYZE grid");
  },
});

describe("NATS restart", () => {
  test("restart - a NATS server restarted mid-stream costs a pause, not data", async () => {
    const s = stack();
    const expected = await s.copyCsv(TENANT, GRID_SQL, [null]);
    const { csv, pauseMs } = await exportDisrupted(s.url, await s.token(TENANT), "grid", 15, async () => {
      await stopNats();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await startNats();
    });
    console.info(`pause across a NATS restart (1 s down): ${pauseMs.toFixed(0)} ms`);
    expect(csv.equals(expected)).toBe(true);
  });
});
