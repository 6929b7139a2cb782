import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "@sluice/config";
import { DemoServer, demoDatasets } from "./demo-server.js";

describe("DemoServer", () => {
  let dir = "";
  let server: DemoServer | undefined;
  const settings = { url: "ws://localhost:1", token: "t", tenant: "acme", datasets: [] };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-demo-"));
    await writeFile(join(dir, "index.html"), "<!doctype html><title>demo</title>");
    await writeFile(join(tmpdir(), "sluice-demo-secret.txt"), "secret");
    server = await DemoServer.start({ pageDir: dir, settings });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
    await rm(join(tmpdir(), "sluice-demo-secret.txt"), { force: true });
  });

  it("serve - the page, its settings, and nothing outside the page directory", async () => {
    const base = `http://127.0.0.1:${server?.port ?? 0}`;
    const page = await fetch(`${base}/`);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(await page.text()).toContain("<title>demo</title>");
    expect(await (await fetch(`${base}/demo.json`)).json()).toEqual(settings);
    expect((await fetch(`${base}/missing.js`)).status).toBe(404);
    expect((await fetch(`${base}/..%2Fsluice-demo-secret.txt`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: "POST" })).status).toBe(405);
  });

  it("start - refuses a page directory without index.html, with DEMO_NOT_BUILT", async () => {
    await expect(DemoServer.start({ pageDir: join(dir, "nothing"), settings })).rejects.toMatchObject({ code: "DEMO_NOT_BUILT" });
  });

  it("datasets - names and parameters from the config, never the SQL", () => {
    const config = parseConfig(
      { databases: { main: { url: "postgres://x" } }, datasets: { grid: { sql: "SELECT $1::int8", params: [{ name: "after", type: "int8" }] } } },
      { env: {} },
    );
    const datasets = demoDatasets(config);
    expect(datasets).toEqual([{ name: "grid", params: [{ name: "after", type: "int8", required: expect.any(Boolean) }] }]);
    expect(JSON.stringify(datasets)).not.toContain("SELECT");
  });
});
