import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { DevstackError } from "./errors.js";
import { obtainPostgres, redact, withDatabase } from "./postgres.js";
import { probePostgres } from "./probe.js";
import { obtainTestServices } from "../../../test/fixtures/services.js";

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("obtainPostgres", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  test("obtainPostgres - local binaries initialise a data dir, and a restart keeps its data", async () => {
    const parent = await mkdtemp(join(tmpdir(), "devstack-pg-test-"));
    dirs.push(parent);
    // As root the server runs as the postgres user, which must be able to reach the data dir.
    await chmod(parent, 0o711);
    const dataDir = join(parent, "pg");
    const first = await obtainPostgres({ docker: false, dataDir, database: "demo" });
    try {
      expect(first.source).toBe("local");
      expect(first.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/demo$/);
      await query(first.url, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)");
    } finally {
      await first.stop();
    }
    expect((await probePostgres(first.url, 500)).ok).toBe(false);
    const second = await obtainPostgres({ docker: false, dataDir, database: "demo" });
    try {
      expect(await query(second.url, "SELECT v FROM kept")).toEqual([{ v: 42 }]);
    } finally {
      await second.stop();
    }
  });

  test("obtainPostgres - uses a given url that answers and never stops it", async () => {
    const { databaseUrl } = await obtainTestServices();
    const server = await obtainPostgres({ url: databaseUrl });
    expect(server).toMatchObject({ url: databaseUrl, source: "given" });
    await server.stop();
    expect((await probePostgres(databaseUrl)).ok).toBe(true);
  });

  test("obtainPostgres - a given url that does not answer is POSTGRES_UNAVAILABLE", async () => {
    const error = await obtainPostgres({ url: "postgres://postgres@127.0.0.1:1/x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DevstackError);
    expect((error as DevstackError).code).toBe("POSTGRES_UNAVAILABLE");
  });

  test("obtainPostgres - without Docker or binaries says what is missing", async () => {
    const error = await obtainPostgres({ docker: false, binDir: "/nonexistent" }).catch((e: unknown) => e);
    expect((error as DevstackError).code).toBe("POSTGRES_UNAVAILABLE");
    expect((error as Error).message).toContain("apt-get install postgresql");
    expect((error as Error).message).toContain("DATABASE_URL");
  });

  test("withDatabase and redact - rewrite the database and hide the password", () => {
    expect(withDatabase("postgres://u:p@h:5432/a?sslmode=disable", "b")).toBe("postgres://u:p@h:5432/b?sslmode=disable");
    expect(redact("postgres://u:secret@h/db")).toBe("postgres://u:***@h/db");
  });
});
