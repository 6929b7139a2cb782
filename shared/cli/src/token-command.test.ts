import { describe, expect, it } from "vitest";
import { jwtVerify, decodeProtectedHeader } from "jose";
import { mintToken, parseDuration, parseList } from "./token-command.js";

const secret = "a-test-secret-of-some-length";
const key = new TextEncoder().encode(secret);

describe("mintToken", () => {
  it("token - round trips through jose with tenant, sub, iat, exp and datasets", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await mintToken({ secret, tenant: "acme", sub: "alice", ttlSeconds: 900, datasets: ["a", "b"], issuedAt: now });
    const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"] });
    expect(payload).toEqual({ tenant: "acme", sub: "alice", iat: now, exp: now + 900, datasets: ["a", "b"] });
    expect(decodeProtectedHeader(token).alg).toBe("HS256");
  });

  it("token - defaults to sub dev, one hour, and no datasets claim", async () => {
    const token = await mintToken({ secret, tenant: "acme" });
    const { payload } = await jwtVerify(token, key);
    expect(payload.sub).toBe("dev");
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
    expect(payload).not.toHaveProperty("datasets");
  });

  it("token - fails verification with another secret", async () => {
    const token = await mintToken({ secret, tenant: "acme" });
    await expect(jwtVerify(token, new TextEncoder().encode("another-secret-entirely"))).rejects.toThrow();
  });
});

describe("parseDuration", () => {
  it("duration - reads seconds, minutes, hours and days", () => {
    expect(parseDuration("90")).toBe(90);
    expect(parseDuration("90s")).toBe(90);
    expect(parseDuration("15m")).toBe(900);
    expect(parseDuration("1h")).toBe(3600);
    expect(parseDuration("7d")).toBe(604_800);
  });

  it("duration - refuses malformed and zero durations", () => {
    for (const text of ["", "h", "1w", "-1h", "1.5h", "0", "0s"]) expect(parseDuration(text)).toBeUndefined();
  });
});

describe("parseList", () => {
  it("list - splits on commas and drops blanks", () => {
    expect(parseList("a, b,,c ")).toEqual(["a", "b", "c"]);
  });
});
