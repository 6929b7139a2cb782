import { describe, expect, it } from "vitest";
import { fetchSettings } from "./settings.js";

const good = { url: "ws://localhost:8080", token: "t", tenant: "acme", datasets: [{ name: "grid", params: [{ name: "after", type: "int8", required: false }] }] };

function serving(status: number, body: unknown): typeof fetch {
  return (async () => new Response(JSON.stringify(body), { status })) as typeof fetch;
}

describe("fetchSettings", () => {
  it("settings - accepts the dev stack's demo.json", async () => {
    expect(await fetchSettings(serving(200, good))).toEqual(good);
  });

  it("settings - refuses a missing file, a non-websocket URL and unknown fields (SQL has no place here)", async () => {
    await expect(fetchSettings(serving(404, {}))).rejects.toThrow(/HTTP 404/);
    await expect(fetchSettings(serving(200, { ...good, url: "http://x" }))).rejects.toThrow(/url/);
    const withSql = { ...good, datasets: [{ ...good.datasets[0], sql: "SELECT 1" }] };
    await expect(fetchSettings(serving(200, withSql))).rejects.toThrow(/demo.json/);
  });
});
