import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { gridTableSql } from "@sluice/devstack";
import { runCli } from "./fixtures/cli.js";
import { useTestStack } from "./fixtures/stack.js";

/** The demo-sized grid, 100,000 rows × 200 columns, exported whole through the real processes. */

const TENANT = "acme";
const ROWS = 100_000;
const GRID_SQL = "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";

const stack = useTestStack({
  workers: 2,
  datasets: { grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" } },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme; SET search_path TO acme");
    await db.query(gridTableSql(ROWS, 7));
    await db.query("ANALYZE grid");
  },
});

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-big-"));
});
afterAll(async () => {
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

interface Digest {
  readonly sha256: string;
  readonly bytes: number;
  readonly lines: number;
}

/** SHA-256, size and line count of a stream, read once without holding it. */
async function digest(stream: Readable): Promise<Digest> {
  const hash = createHash("sha256");
  let bytes = 0;
  let lines = 0;
  for await (const part of stream) {
    const chunk = part as Buffer;
    hash.update(chunk);
    bytes += chunk.length;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
  }
  return { sha256: hash.digest("hex"), bytes, lines };
}

async function exportTo(format: "csv" | "ndjson"): Promise<string> {
  const s = stack();
  const out = join(dir, `grid.${format}`);
  const run = await runCli(["export", "grid", "--url", s.url, "--token", await s.token(TENANT), "--format", format, "--out", out, "--quiet"]);
  expect(run.code, `sluice export grid --format ${format} failed: ${run.stderr}`).toBe(0);
  return out;
}

describe("big export", () => {
  test("csv - 100,000 × 200 through the CLI is byte for byte COPY … CSV HEADER", async () => {
    const s = stack();
    const out = await exportTo("csv");
    const copy = s.copyCsvStream(TENANT, GRID_SQL, [null]);
    const [file, expected] = await Promise.all([digest(createReadStream(out)), digest(copy.stdout), copy.done]);
    // The grid's text has commas and quotes but no line breaks: one line per row plus the header.
    expect(file.lines - 1).toBe(ROWS);
    expect(file.bytes).toBe(expected.bytes);
    expect(file.sha256).toBe(expected.sha256);
    await rm(out);
  });

  test("ndjson - 100,000 × 200 through the CLI is one 200-key object per line, in id order", async () => {
    const out = await exportTo("ndjson");
    let rows = 0;
    let previous = 0;
    let badRows = 0;
    let buffered = "";
    for await (const part of createReadStream(out, { encoding: "utf8" })) {
      const lines = (buffered + (part as string)).split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const row = JSON.parse(line) as Record<string, unknown>;
        const id = Number(row.id);
        if (!(id > previous) || Object.keys(row).length !== 200) badRows++;
        previous = id;
        rows++;
      }
    }
    expect(buffered).toBe("");
    expect(rows).toBe(ROWS);
    expect(badRows).toBe(0);
    expect(previous).toBe(ROWS);
    await rm(out);
  });

  test("csv - --param after=N exports exactly the rows after N, as COPY does", async () => {
    const s = stack();
    const out = join(dir, "tail.csv");
    const run = await runCli(["export", "grid", "--param", "after=99000", "--url", s.url, "--token", await s.token(TENANT), "--out", out, "--quiet"]);
    expect(run.code, run.stderr).toBe(0);
    const copy = s.copyCsvStream(TENANT, GRID_SQL, ["99000"]);
    const [file, expected] = await Promise.all([digest(createReadStream(out)), digest(copy.stdout), copy.done]);
    expect(file.lines - 1).toBe(1_000);
    expect(file).toEqual(expected);
  });
});
