import { describe, expect, it } from "vitest";
import { SluiceError } from "@sluice/protocol";
import { bindParams, parseConfig } from "./config.js";
import { edgeSettings } from "./settings.js";

const env = { DATABASE_URL: "postgres://db/x" };
const base = {
  databases: { main: { url: "${DATABASE_URL}" } },
  datasets: { grid: { sql: "SELECT * FROM grid WHERE id > $1 ORDER BY id;", params: [{ name: "after", type: "int8", required: true }], key: "id" } },
};

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof SluiceError ? error.code : (error as Error).message;
  }
  return undefined;
}

describe("config", () => {
  it("config - resolves defaults, interpolation and the primary database", () => {
    const config = parseConfig(base, { env });
    expect(config.databases.main).toEqual({ url: "postgres://db/x", role: "primary", pool: 10 });
    expect(config.datasets.grid).toMatchObject({ database: "main", sql: "SELECT * FROM grid WHERE id > $1 ORDER BY id", key: "id" });
  });

  it("config - names the offending field", () => {
    expect(() => parseConfig({ ...base, datasets: { grid: { ...base.datasets.grid, database: "mian" } } }, { env })).toThrow(
      /datasets\.grid\.database/,
    );
    expect(() => parseConfig({ ...base, databases: { main: { url: "x", pool: 0 } } }, { env })).toThrow(/databases\.main\.pool/);
    expect(() => parseConfig(base, { env: {} })).toThrow(/databases\.main\.url: environment variable DATABASE_URL/);
    expect(() => parseConfig({ ...base, datasets: { grid: { sql: "SELECT $2" } } }, { env })).toThrow(/datasets\.grid\.sql/);
    expect(() => parseConfig({ ...base, extra: 1 }, { env })).toThrow(/config/);
  });

  it("config - the edge may leave database urls unresolved", () => {
    expect(parseConfig(base, { env: {}, databaseUrls: "optional" }).datasets.grid?.database).toBe("main");
  });

  it("config - binds parameters by declared type", () => {
    const { grid } = parseConfig(base, { env }).datasets;
    if (!grid) throw new Error("no dataset");
    expect(bindParams(grid, { after: "9223372036854775807" })).toEqual(["9223372036854775807"]);
    expect(bindParams(grid, { after: 5 })).toEqual(["5"]);
    expect(codeOf(() => bindParams(grid, {}))).toBe("PARAM_MISSING");
    expect(codeOf(() => bindParams(grid, { after: "1; DROP TABLE grid" }))).toBe("PARAM_INVALID");
    expect(codeOf(() => bindParams(grid, { after: "9223372036854775808" }))).toBe("PARAM_INVALID");
    expect(codeOf(() => bindParams(grid, { after: 1.5 }))).toBe("PARAM_INVALID");
    expect(codeOf(() => bindParams(grid, { after: 1, other: 2 }))).toBe("PARAM_UNKNOWN");
  });

  it("config - settings reject a short secret and keep defaults", () => {
    expect(() => edgeSettings({ SLUICE_CONFIG: "x", SLUICE_JWT_SECRET: "short" })).toThrow(/SLUICE_JWT_SECRET/);
    const settings = edgeSettings({ SLUICE_CONFIG: "x", SLUICE_JWT_SECRET: "0123456789abcdef" });
    expect(settings).toMatchObject({ port: 8080, window: 8, natsPrefix: "sluice", maxFrameBytes: 65536 });
    expect(settings.auth).toEqual({ keys: { kind: "secret", secret: "0123456789abcdef" }, issuer: undefined, audience: undefined, clockSkewS: 30 });
    expect(settings.sessionKey).toBe("0123456789abcdef");
    expect(settings).toMatchObject({ maxRequestsPerSocket: 16, maxQueuedPerSocket: 64, maxSocketsPerTenant: 256 });
  });

  it("config - settings take JWKS keys with a session key of their own, never together with a secret", () => {
    const jwks = { SLUICE_CONFIG: "x", SLUICE_JWKS_URL: "https://idp.example/jwks.json" };
    expect(() => edgeSettings(jwks)).toThrow(/SLUICE_SESSION_KEY/);
    expect(() => edgeSettings({ ...jwks, SLUICE_SESSION_KEY: "0123456789abcdef", SLUICE_JWT_SECRET: "0123456789abcdef" })).toThrow(/SLUICE_JWKS_URL/);
    expect(() => edgeSettings({ ...jwks, SLUICE_JWKS_URL: "file:///etc/passwd", SLUICE_SESSION_KEY: "0123456789abcdef" })).toThrow(/SLUICE_JWKS_URL/);
    expect(() => edgeSettings({ SLUICE_CONFIG: "x" })).toThrow(/SLUICE_JWT_SECRET/);
    const settings = edgeSettings({ ...jwks, SLUICE_SESSION_KEY: "fedcba9876543210", SLUICE_JWT_ISSUER: "idp", SLUICE_JWT_AUDIENCE: "sluice", SLUICE_JWT_CLOCK_SKEW_S: "5" });
    expect(settings.auth).toEqual({ keys: { kind: "jwks", url: "https://idp.example/jwks.json" }, issuer: "idp", audience: "sluice", clockSkewS: 5 });
    expect(settings.sessionKey).toBe("fedcba9876543210");
  });
});
