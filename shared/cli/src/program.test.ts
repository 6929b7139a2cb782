import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { jwtVerify } from "jose";
import { WebSocket } from "ws";
import { EXIT, run, type CliIo } from "./program.js";

class Capture extends Writable {
  text = "";
  isTTY = false;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

function fakeIo(env: Record<string, string> = {}): CliIo & { stdout: Capture; stderr: Capture } {
  return { env, stdout: new Capture(), stderr: new Capture(), WebSocket };
}

const secret = "a-test-secret-of-some-length";

describe("run", () => {
  it("usage - no command exits 2 with help on stderr", async () => {
    const io = fakeIo();
    expect(await run([], io)).toBe(EXIT.usage);
    expect(io.stderr.text).toMatch(/Usage: sluice/);
    expect(io.stdout.text).toBe("");
  });

  it("usage - --help exits 0 with help on stdout", async () => {
    const io = fakeIo();
    expect(await run(["export", "--help"], io)).toBe(EXIT.ok);
    expect(io.stdout.text).toMatch(/--param <name=value>/);
  });

  it.each([
    ["an unknown command", ["exprot", "x"], /unknown command/],
    ["an unknown option", ["export", "x", "--token", "t", "--fast"], /unknown option '--fast'/],
    ["a missing dataset", ["export", "--token", "t"], /missing required argument 'dataset'/],
    ["a --param without =", ["export", "x", "--token", "t", "--param", "from"], /Expected name=value/],
    ["a --param without a name", ["export", "x", "--token", "t", "--param", "=1"], /Expected name=value/],
    ["a --param given twice", ["export", "x", "--token", "t", "-p", "a=1", "-p", "a=2"], /given twice/],
    ["an unknown --format", ["export", "x", "--token", "t", "--format", "xml"], /Allowed choices are csv, ndjson/],
    ["a non-websocket --url", ["export", "x", "--token", "t", "--url", "http://localhost"], /ws:\/\/ or wss:\/\//],
    ["no token at all", ["export", "x"], /no token: pass --token or set SLUICE_TOKEN/],
    ["a token without --tenant", ["token"], /required option '--tenant <tenant>'/],
    ["a malformed --ttl", ["token", "--tenant", "t", "--ttl", "soon"], /Expected a duration/],
  ])("usage - %s exits 2", async (_name, argv, message) => {
    const io = fakeIo({ SLUICE_JWT_SECRET: secret });
    expect(await run(argv, io)).toBe(EXIT.usage);
    expect(io.stderr.text).toMatch(/^sluice: /);
    expect(io.stderr.text).toMatch(message);
    expect(io.stdout.text).toBe("");
  });

  it("token - a missing SLUICE_JWT_SECRET exits 2 with a clear message", async () => {
    const io = fakeIo();
    expect(await run(["token", "--tenant", "acme"], io)).toBe(EXIT.usage);
    expect(io.stderr.text).toBe("sluice: SLUICE_JWT_SECRET is not set: it must hold the edge's JWT secret\n");
    expect(io.stdout.text).toBe("");
  });

  it("token - prints a token the secret verifies, with the requested claims", async () => {
    const io = fakeIo({ SLUICE_JWT_SECRET: secret });
    const argv = ["token", "--tenant", "acme", "--sub", "bob", "--ttl", "2h", "--datasets", "orders,users"];
    expect(await run(argv, io)).toBe(EXIT.ok);
    expect(io.stdout.text).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { payload } = await jwtVerify(io.stdout.text.trim(), new TextEncoder().encode(secret));
    expect(payload).toMatchObject({ tenant: "acme", sub: "bob", datasets: ["orders", "users"] });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(7200);
  });

  it("export - the token may come from SLUICE_TOKEN; a refused connection exits 1 with its code", async () => {
    const io = fakeIo({ SLUICE_TOKEN: "t" });
    expect(await run(["export", "x", "--url", "ws://127.0.0.1:1", "--quiet"], io)).toBe(EXIT.failure);
    expect(io.stderr.text).toMatch(/^sluice: SERVICE_UNAVAILABLE: .*\n$/);
  });
});
