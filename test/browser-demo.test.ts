import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DemoServer, demoPageDir, gridTableSql, repoRoot, stateDir } from "@sluice/devstack";
import { useTestStack } from "./fixtures/stack.js";
import { TcpProxy } from "./fixtures/tcp-proxy.js";

/**
 * The browser demo as a person uses it: the built page in headless Chromium, streaming the
 * 100,000 × 200 grid from real edges and workers, checked against PostgreSQL cell by cell.
 */

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const TENANT = "acme";
const ROWS = 100_000;
const COLUMNS = 200;
const GRID_SQL = "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";
/** How the grid shows SQL NULL. */
const NULL_TEXT = "∅";
const STREAM_TIMEOUT_MS = 180_000;
/** A test that streams the whole grid: the stream, the checks, and room for a loaded machine. */
const GRID_TEST_TIMEOUT_MS = 300_000;

/** What the page offers scripts (apps/demo/src/app.tsx). */
interface DemoHandle {
  scrollTo(column: number, row: number): void;
}

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`browser demo tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

describe.skipIf(!haveChromium)("browser demo", () => {
  const stack = useTestStack({
    workers: 2,
    datasets: { grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" } },
    setup: async (db) => {
      await db.query("CREATE SCHEMA acme; SET search_path TO acme");
      await db.query(gridTableSql(ROWS, 7));
      await db.query("ANALYZE grid");
    },
  });

  let proxy: TcpProxy;
  let demo: DemoServer;
  let profile = "";
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    const s = stack();
    proxy = await TcpProxy.start(Number(new URL(s.url).port));
    demo = await DemoServer.start({
      pageDir: demoPageDir(repoRoot()),
      settings: {
        url: `ws://127.0.0.1:${proxy.port}`,
        token: await s.token(TENANT),
        tenant: TENANT,
        datasets: [{ name: "grid", params: [{ name: "after", type: "int8", required: false }] }],
      },
    });
    profile = await mkdtemp(join(tmpdir(), "sluice-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 860 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(demo.url);
    await page.getByRole("button", { name: "Start" }).waitFor();
  });

  afterAll(async () => {
    await context?.close();
    await demo?.close();
    await proxy?.close();
    if (profile !== "") await rm(profile, { recursive: true, force: true });
  });

  /** The progress panel's figures. */
  async function progress(): Promise<{ state: string; rows: number; bytes: number; firstRowsMs: number; fullGridMs: number }> {
    const panel = page.getByTestId("progress");
    const read = async (name: string): Promise<string> => (await panel.getAttribute(name)) ?? "";
    return {
      state: await read("data-state"),
      rows: Number(await read("data-rows")),
      bytes: Number(await read("data-bytes")),
      firstRowsMs: Number(await read("data-first-rows-ms")),
      fullGridMs: Number(await read("data-full-grid-ms")),
    };
  }

  async function waitForState(state: string, timeout = STREAM_TIMEOUT_MS): Promise<void> {
    await page.locator(`[data-testid=progress][data-state=${state}]`).waitFor({ timeout });
  }

  async function waitForRows(atLeast: number): Promise<void> {
    await page.waitForFunction((n) => Number(document.querySelector("[data-testid=progress]")?.getAttribute("data-rows")) >= n, atLeast, {
      timeout: STREAM_TIMEOUT_MS,
    });
  }

  async function start(after = ""): Promise<void> {
    await page.locator("input[name=after]").fill(after);
    await page.getByRole("button", { name: "Start" }).click();
  }

  /** Scrolls the grid to (`column`, `row`) and reads the cells the grid shows there, `width` × `height`. */
  async function visibleCells(column: number, row: number, width: number, height: number): Promise<string[][]> {
    await page.evaluate(([c, r]) => (window as unknown as { sluiceDemo: DemoHandle }).sluiceDemo.scrollTo(c as number, r as number), [column, row]);
    const ids = Array.from({ length: height }, (_, dy) => Array.from({ length: width }, (_, dx) => `glide-cell-${column + dx}-${row + dy}`));
    // The grid mirrors its visible cells into an accessibility table, a moment after drawing.
    const shown = await page
      .waitForFunction((all) => all.flat().every((id) => document.getElementById(id) !== null), ids, { timeout: 10_000 })
      .then(
        () => true,
        () => false,
      );
    if (!shown) {
      const present = await page.evaluate(() => Array.from(document.querySelectorAll("[id^=glide-cell-]"), (cell) => cell.id));
      throw new Error(`the grid does not show ${ids[0]?.[0]}…; it shows ${present.slice(0, 3).join(", ")} … ${present.slice(-3).join(", ")}`);
    }
    return page.evaluate((all) => all.map((line) => line.map((id) => document.getElementById(id)?.textContent ?? "")), ids);
  }

  /** The same cells straight from PostgreSQL, as the grid shows them. */
  async function expectedCells(column: number, row: number, width: number, height: number): Promise<string[][]> {
    const { rows } = await stack().tenantRows(TENANT, `${GRID_SQL} LIMIT ${height}`, [String(row)]);
    return rows.map((values) => values.slice(column, column + width).map((value) => value ?? NULL_TEXT));
  }

  test("grid - streams 100,000 × 200 and shows PostgreSQL's values at the top, middle, far right and bottom", async () => {
    await start();
    await waitForState("done");
    const figures = await progress();
    expect(figures.rows).toBe(ROWS);
    await page.waitForFunction(() => document.querySelector("[data-testid=progress]")?.hasAttribute("data-full-grid-ms"));
    const { fullGridMs, firstRowsMs } = await progress();

    for (const [column, row] of [
      [0, 0],
      [97, 50_000],
      [COLUMNS - 4, 1_234],
      [COLUMNS - 4, ROWS - 3],
      [0, ROWS - 3],
    ] as const) {
      expect(await visibleCells(column, row, 4, 3), `cells at column ${column}, row ${row}`).toEqual(await expectedCells(column, row, 4, 3));
    }
    expect(await page.locator("[aria-rowcount]").first().getAttribute("aria-rowcount")).toBe(String(ROWS + 1));

    const cdp = await context.newCDPSession(page);
    await cdp.send("HeapProfiler.collectGarbage");
    const heap = await cdp.send("Runtime.getHeapUsage");
    const csv = await stack().copyCsv(TENANT, GRID_SQL, [null]);
    console.log(
      [
        "browser demo, 100,000 × 200 grid:",
        `  time to first rows on screen  ${Math.round(firstRowsMs)} ms`,
        `  time to full grid             ${(fullGridMs / 1000).toFixed(2)} s`,
        `  JS heap after the full grid   ${(heap.usedSize / 1e6).toFixed(1)} MB used of ${(heap.totalSize / 1e6).toFixed(1)} MB` +
          `, ArrayBuffer backing stores ${(heap.backingStorageSize / 1e6).toFixed(1)} MB`,
        `  CSV held by the page          ${(figures.bytes / 1e6).toFixed(1)} MB (COPY … CSV HEADER: ${(csv.length / 1e6).toFixed(1)} MB)`,
      ].join("\n"),
    );
    expect(figures.bytes).toBe(csv.length - csv.indexOf(10) - 1);

    await visibleCells(0, 0, 1, 1);
    // Saved under .sluice/ on every run; SLUICE_UPDATE_SCREENSHOT=1 also refreshes the README's.
    await mkdir(stateDir(), { recursive: true });
    const shot = await page.screenshot({ path: join(stateDir(), "demo.png") });
    if (process.env.SLUICE_UPDATE_SCREENSHOT === "1") await writeFile(join(repoRoot(), "docs", "demo.png"), shot);
  }, GRID_TEST_TIMEOUT_MS);

  test("cancel - a request cancelled mid-stream stops and shows the cancelled state", async () => {
    await start();
    await waitForRows(1);
    await page.getByRole("button", { name: "Cancel" }).click();
    await waitForState("cancelled", 30_000);
    const { rows } = await progress();
    expect(rows).toBeLessThan(ROWS);
    expect(await page.getByTestId("error").count()).toBe(0);
    await expect.poll(() => stack().workerBackends().then((b) => b.filter((x) => x.state !== "idle").length), { timeout: 30_000 }).toBe(0);
  });

  test("errors - a bad parameter is shown with its code", async () => {
    await start("twelve");
    await page.getByTestId("error").waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("error").getAttribute("data-code")).toBe("PARAM_INVALID");
    // The progress panel repaints on the next animation frame, the error banner at once.
    await waitForState("failed", 10_000);
  });

  test("errors - a token the edge refuses is shown with its code, and the page is not connected", async () => {
    const refused = await DemoServer.start({
      pageDir: demoPageDir(repoRoot()),
      settings: { url: stack().url, token: `${await stack().token(TENANT)}x`, tenant: TENANT, datasets: [{ name: "grid", params: [] }] },
    });
    const other = await context.newPage();
    try {
      await other.goto(refused.url);
      await other.getByRole("button", { name: "Start" }).click();
      await other.getByTestId("error").waitFor({ timeout: 30_000 });
      expect(await other.getByTestId("error").getAttribute("data-code")).toBe("AUTH_INVALID");
      expect(await other.getByTestId("connection").getAttribute("data-state")).toBe("disconnected");
    } finally {
      await other.close();
      await refused.close();
    }
  });

  test("network - a drop mid-stream: the page reconnects, resumes, and ends with every row once", async () => {
    await start();
    await waitForRows(20_000);
    proxy.cut();
    const connection = page.getByTestId("connection");
    await page.locator("[data-testid=connection][data-state=reconnecting]").waitFor({ timeout: 30_000 });
    const rowsAtDrop = (await progress()).rows;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    proxy.restore();
    await page.locator("[data-testid=connection][data-state=resumed]").waitFor({ timeout: 30_000 });
    await waitForState("done");
    expect(await connection.getAttribute("data-state")).toBe("resumed");
    expect((await progress()).rows).toBe(ROWS);
    // Rows either side of the drop, and the last: no gap, no duplicate.
    const around = Math.max(0, rowsAtDrop - 2);
    expect(await visibleCells(0, around, 3, 5)).toEqual(await expectedCells(0, around, 3, 5));
    expect(await visibleCells(0, ROWS - 2, 3, 2)).toEqual(await expectedCells(0, ROWS - 2, 3, 2));
  }, GRID_TEST_TIMEOUT_MS);
});
