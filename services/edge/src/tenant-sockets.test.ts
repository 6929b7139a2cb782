import { describe, expect, it } from "vitest";
import { TenantSockets } from "./tenant-sockets.js";

describe("TenantSockets", () => {
  it("tenant sockets - refuses a tenant at its limit, not the others, and frees on release", () => {
    const sockets = new TenantSockets(2);
    expect(sockets.acquire("a")).toBe(true);
    expect(sockets.acquire("a")).toBe(true);
    expect(sockets.acquire("a")).toBe(false);
    expect(sockets.acquire("b")).toBe(true);
    sockets.release("a");
    expect(sockets.acquire("a")).toBe(true);
    expect(sockets.acquire("a")).toBe(false);
  });
});
