import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect, type SluiceClient } from "@sluice/client";
import { gridTableSql } from "@sluice/devstack";
import { PROTOCOL_VERSION, SluiceError, type ParamValue } from "@sluice/protocol";
import { runCli } from "./fixtures/cli.js";
import { RawSocket } from "./fixtures/raw-socket.js";
import { useTestStack } from "./fixtures/stack.js";

/**
 * Whatever a client sends, the edge and workers answer with a stable code, and a request's error
 * never costs the client its socket.
 */

const TENANT = "acme";
const GRID_SQL = "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";

const STATEMENT_TIMEOUT_MS = 1_500;

const stack = useTestStack({
  workers: 1,
  env: { SLUICE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS) },
  datasets: {
    // Problems of the dataset or its data, not of the client's input.
    broken: { sql: "SELECT id / (id - id) AS boom FROM grid WHERE id <= 3" },
    missing_table: { sql: "SELECT * FROM not_there" },
    sleepy: { sql: `SELECT pg_sleep(${(STATEMENT_TIMEOUT_MS / 1000) * 3}) AS slept` },
    huge: { sql: "SELECT repeat('x', 600000) AS v" },
    grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" },
    small: { sql: "SELECT id, c002 FROM grid WHERE id <= 3 ORDER BY id" },
    range: {
      sql: "SELECT id FROM grid WHERE id BETWEEN $1::int8 AND $2::int8 ORDER BY id",
      params: [
        { name: "from", type: "int8", required: true },
        { name: "to", type: "int8", required: true },
      ],
    },
    typed: {
      sql: "SELECT $1::date AS d, $2::bool AS flag, $3::uuid AS u, $4::jsonb AS doc, $5::numeric AS n, $6::int2 AS small, $7::timestamptz AS at",
      params: [
        { name: "d", type: "date" },
        { name: "flag", type: "bool" },
        { name: "u", type: "uuid" },
        { name: "doc", type: "jsonb" },
        { name: "n", type: "numeric" },
        { name: "small", type: "int2" },
        { name: "at", type: "timestamptz" },
      ],
    },
  },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme; SET search_path TO acme");
    // Large enough that a request whose chunks nobody acks stays running.
    await db.query(gridTableSql(20_000, 5));
  },
});

// ---------------------------------------------------------------------------------------------
// Tokens made by hand, so that every malformation is possible.

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A JWT signed with `secret` by the HMAC its header names (HS256 unless told otherwise). */
function signedToken(secret: string, claims: Record<string, unknown>, header: Record<string, unknown> = { alg: "HS256", typ: "JWT" }): string {
  const body = `${b64(header)}.${b64(claims)}`;
  const hash = header.alg === "HS512" ? "sha512" : header.alg === "HS384" ? "sha384" : "sha256";
  return `${body}.${createHmac(hash, secret).update(body).digest("base64url")}`;
}

const now = (): number => Math.floor(Date.now() / 1000);

async function connectCode(token: string): Promise<string> {
  return connect({ url: stack().url, token, WebSocket }).then(
    (client) => {
      client.close();
      return "connected";
    },
    (error: unknown) => (error instanceof SluiceError ? error.code : `not a SluiceError: ${String(error)}`),
  );
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof SluiceError ? error.code : `not a SluiceError: ${String(error)}`),
  );
}

describe("tokens", () => {
  test("hello - a good token is welcomed (so the refusals below are about the token)", async () => {
    expect(await connectCode(signedToken(stack().secret, { tenant: TENANT, sub: "t", exp: now() + 600 }))).toBe("connected");
  });

  test.each<[string, string, () => string]>([
    ["signed with another secret", "AUTH_INVALID", () => signedToken("another-secret-of-enough-length", { tenant: TENANT, sub: "t", exp: now() + 600 })],
    ["expired a minute ago", "AUTH_EXPIRED", () => signedToken(stack().secret, { tenant: TENANT, sub: "t", exp: now() - 60 })],
    ["without a tenant claim", "AUTH_INVALID", () => signedToken(stack().secret, { sub: "t", exp: now() + 600 })],
    ["with an empty tenant", "AUTH_INVALID", () => signedToken(stack().secret, { tenant: "", sub: "t", exp: now() + 600 })],
    ["with a tenant that is not a string", "AUTH_INVALID", () => signedToken(stack().secret, { tenant: 42, sub: "t", exp: now() + 600 })],
    ["without exp", "AUTH_INVALID", () => signedToken(stack().secret, { tenant: TENANT, sub: "t" })],
    ["with alg none", "AUTH_INVALID", () => `${b64({ alg: "none", typ: "JWT" })}.${b64({ tenant: TENANT, sub: "t", exp: now() + 600 })}.`],
    ["signed with HS512 (only HS256 is accepted)", "AUTH_INVALID", () => signedToken(stack().secret, { tenant: TENANT, exp: now() + 600 }, { alg: "HS512", typ: "JWT" })],
    ["that is not a JWT", "AUTH_INVALID", () => "not-a-jwt"],
    ["valid only from an hour on (nbf)", "AUTH_INVALID", () => signedToken(stack().secret, { tenant: TENANT, nbf: now() + 3600, exp: now() + 7200 })],
  ])("hello - a token %s is refused with %s", async (_what, code, token) => {
    expect(await connectCode(token())).toBe(code);
  });
});

describe("request errors", () => {
  let client: SluiceClient;
  beforeAll(async () => {
    const s = stack();
    client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
  });
  afterAll(() => client?.close());

  async function expectNormalQuery(on: SluiceClient): Promise<void> {
    const rows: unknown[] = [];
    for await (const row of on.query("small").rows()) rows.push(row);
    expect(rows.map((r) => (r as string[])[0])).toEqual(["1", "2", "3"]);
  }

  test.each<[string, string, string, Record<string, ParamValue>]>([
    ["an unknown dataset", "UNKNOWN_DATASET", "nope", {}],
    ["a missing required param", "PARAM_MISSING", "range", { from: "1" }],
    ["a required param given as null", "PARAM_MISSING", "range", { from: "1", to: null }],
    ["'abc' for int8", "PARAM_INVALID", "range", { from: "abc", to: "2" }],
    ["2^64 as a string for int8", "PARAM_INVALID", "range", { from: "1", to: "18446744073709551616" }],
    ["2^64 as a number for int8", "PARAM_INVALID", "range", { from: "1", to: 2 ** 64 }],
    ["2^63 for int8", "PARAM_INVALID", "range", { from: "9223372036854775808", to: "1" }],
    ["1.5 for int8", "PARAM_INVALID", "range", { from: 1.5, to: 2 }],
    ["an unknown param", "PARAM_UNKNOWN", "range", { from: "1", to: "2", limit: "5" }],
    ["40000 for int2", "PARAM_INVALID", "typed", { small: 40000 }],
    ["'yes' for bool", "PARAM_INVALID", "typed", { flag: "yes" }],
    ["'xyz' for uuid", "PARAM_INVALID", "typed", { u: "xyz" }],
    ["'{bad' for jsonb", "PARAM_INVALID", "typed", { doc: "{bad" }],
    ["'abc' for numeric", "PARAM_INVALID", "typed", { n: "abc" }],
    ["'yesterday' for date", "PARAM_INVALID", "typed", { d: "yesterday" }],
    ["2024-02-30 for date (well formed, refused by PostgreSQL)", "PARAM_INVALID", "typed", { d: "2024-02-30" }],
    ["month 13 for timestamptz (well formed, refused by PostgreSQL)", "PARAM_INVALID", "typed", { at: "2024-13-01T00:00:00Z" }],
  ])("query - %s fails with %s and the socket then completes a normal query", async (_what, code, dataset, params) => {
    const stream = client.query(dataset, params);
    expect(await codeOf(stream.result)).toBe(code);
    expect(await codeOf(stream.meta)).toBe(code);
    expect(client.connected).toBe(true);
    await expectNormalQuery(client);
  });

  test.each([
    ["a row larger than the largest chunk (512 KiB)", "ROW_TOO_LARGE", "huge"],
    ["a statement running past SLUICE_STATEMENT_TIMEOUT_MS", "QUERY_TIMEOUT", "sleepy"],
    ["a table missing from the tenant's schema", "QUERY_FAILED", "missing_table"],
    ["a division by zero in the dataset's own SQL (no params at all)", "QUERY_FAILED", "broken"],
  ])("query - %s fails with %s and the socket then completes a normal query", async (_what, code, dataset) => {
    expect(await codeOf(client.query(dataset).result)).toBe(code);
    expect(client.connected).toBe(true);
    await expectNormalQuery(client);
  });

  test("query - well-typed params of every kind are bound as given", async () => {
    const params = { d: "2024-02-29", flag: true, u: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", doc: '{"k":[1,"é"]}', n: "-1.50", small: -32768, at: "2024-01-01T12:00:00+02:00" };
    const rows: unknown[] = [];
    for await (const row of client.query("typed", params, { format: "ndjson" }).rows()) rows.push(row);
    expect(rows).toEqual([
      { d: "2024-02-29", flag: true, u: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", doc: { k: [1, "é"] }, n: "-1.50", small: -32768, at: "2024-01-01 10:00:00+00" },
    ]);
  });

  test.each([
    ["a tenant whose schema does not exist", "TENANT_UNKNOWN", "nobody"],
    ["a tenant differing from a schema only in case", "TENANT_UNKNOWN", "ACME"],
  ])("tenant - %s fails with %s, and the socket answers again", async (_what, code, tenant) => {
    const s = stack();
    const other = await connect({ url: s.url, token: await s.token(tenant), WebSocket });
    try {
      expect(await codeOf(other.query("small").result)).toBe(code);
      expect(other.connected).toBe(true);
      expect(await codeOf(other.query("small").result)).toBe(code);
    } finally {
      other.close();
    }
  });

  test.each(["pg_catalog", "information_schema", "a;b", 'acme", public'])("tenant - a token whose tenant %j is no schema name is refused at connect with TENANT_INVALID", async (tenant) => {
    const s = stack();
    await expect(connect({ url: s.url, token: await s.token(tenant), WebSocket })).rejects.toMatchObject({ code: "TENANT_INVALID" });
  });
});

// ---------------------------------------------------------------------------------------------
// The protocol spoken by hand.

/** Opens a socket and completes the handshake with a good token. */
async function welcomedRaw(): Promise<RawSocket> {
  const s = stack();
  return RawSocket.welcomed(s.url, await s.token(TENANT));
}

/** Runs `small` to its end on a raw socket, acking every frame as a client must; returns the end frame. */
async function rawSmallQuery(socket: RawSocket, id: string): Promise<Record<string, unknown>> {
  return (await socket.runQuery(id, "small")).last;
}

describe("raw protocol", () => {
  const sockets: RawSocket[] = [];
  afterAll(() => {
    for (const socket of sockets) socket.close();
  });
  async function welcomed(): Promise<RawSocket> {
    const socket = await welcomedRaw();
    sockets.push(socket);
    return socket;
  }

  test("frames - malformed JSON draws BAD_FRAME and the socket stays open and usable", async () => {
    const socket = await welcomed();
    socket.send("{not json");
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "BAD_FRAME" });
    socket.send({ type: "query", id: "q1", dataset: "small", extra: true });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "BAD_FRAME" });
    socket.send({ type: "launch" });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "BAD_FRAME" });
    socket.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "BAD_FRAME" });
    socket.send({ type: "hello", v: PROTOCOL_VERSION, token: await stack().token(TENANT) });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "BAD_FRAME" });
    expect(socket.open).toBe(true);
    expect(await rawSmallQuery(socket, "after-bad-frames")).toMatchObject({ type: "end", rows: 3 });
  });

  test("hello - a query before hello draws HELLO_REQUIRED and the socket is closed", async () => {
    const socket = await RawSocket.open(stack().url);
    sockets.push(socket);
    socket.send({ type: "query", id: "early", dataset: "small", params: {} });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "HELLO_REQUIRED" });
    expect((await socket.closed).code).toBe(4401);
  });

  test("hello - malformed JSON before hello draws HELLO_REQUIRED and the socket is closed", async () => {
    const socket = await RawSocket.open(stack().url);
    sockets.push(socket);
    socket.send("{not json");
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "HELLO_REQUIRED" });
    expect((await socket.closed).code).toBe(4401);
  });

  test("hello - another protocol version draws UNSUPPORTED_VERSION and the socket is closed", async () => {
    const socket = await RawSocket.open(stack().url);
    sockets.push(socket);
    socket.send({ type: "hello", v: PROTOCOL_VERSION + 1, token: await stack().token(TENANT) });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "UNSUPPORTED_VERSION" });
    expect((await socket.closed).code).toBe(4400);
  });

  test("hello - a refused token closes the socket with 4401 after the error frame", async () => {
    const socket = await RawSocket.open(stack().url);
    sockets.push(socket);
    socket.send({ type: "hello", v: PROTOCOL_VERSION, token: "not-a-jwt" });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "AUTH_INVALID" });
    expect((await socket.closed).code).toBe(4401);
  });

  test("requests - a duplicate id while the first runs draws DUPLICATE_REQUEST; the first goes on", async () => {
    const socket = await welcomed();
    // Never acked: the worker fills the window and the request stays running.
    socket.send({ type: "query", id: "dup", dataset: "grid", params: {} });
    expect(await socket.nextText()).toMatchObject({ type: "meta", id: "dup", seq: 0 });
    socket.send({ type: "query", id: "dup", dataset: "small", params: {} });
    expect(await socket.nextText()).toMatchObject({ type: "error", id: "dup", code: "DUPLICATE_REQUEST" });
    // The first request is untouched: acking its meta brings its chunks, and cancel then ends it.
    socket.send({ type: "ack", id: "dup", seq: 0 });
    const chunk = await socket.next();
    expect("binary" in chunk).toBe(true);
    socket.send({ type: "cancel", id: "dup" });
    expect(await socket.textUntil((m) => m.type === "error")).toMatchObject({ id: "dup", code: "CANCELLED" });
    expect(await rawSmallQuery(socket, "after-duplicate")).toMatchObject({ type: "end", rows: 3 });
  });

  test("requests - ack or cancel for an unknown request draws UNKNOWN_REQUEST; the socket stays usable", async () => {
    const socket = await welcomed();
    socket.send({ type: "ack", id: "ghost", seq: 1 });
    expect(await socket.nextText()).toMatchObject({ type: "error", id: "ghost", code: "UNKNOWN_REQUEST" });
    socket.send({ type: "cancel", id: "ghost" });
    expect(await socket.nextText()).toMatchObject({ type: "error", id: "ghost", code: "UNKNOWN_REQUEST" });
    expect(await rawSmallQuery(socket, "after-unknown")).toMatchObject({ type: "end", rows: 3 });
    // A finished request is unknown too.
    socket.send({ type: "ack", id: "after-unknown", seq: 1 });
    expect(await socket.nextText()).toMatchObject({ type: "error", id: "after-unknown", code: "UNKNOWN_REQUEST" });
  });
});

describe("cli", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-bad-input-"));
  });
  afterAll(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  test.each([
    ["an unknown dataset", "UNKNOWN_DATASET", ["nope"]],
    ["an ill-typed param", "PARAM_INVALID", ["grid", "--param", "after=abc"]],
    ["an unknown param", "PARAM_UNKNOWN", ["grid", "--param", "limit=5"]],
  ])("export - %s exits 1 naming %s and leaves no file behind", async (_what, code, args) => {
    const s = stack();
    const out = join(dir, "out.csv");
    const run = await runCli(["export", ...args, "--url", s.url, "--token", await s.token(TENANT), "--out", out, "--quiet"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(code);
    expect(existsSync(out)).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });

  test("export - a refused token exits 1 naming AUTH_INVALID", async () => {
    const s = stack();
    const run = await runCli(["export", "small", "--url", s.url, "--token", "not-a-jwt", "--quiet"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("AUTH_INVALID");
    expect(run.stdout.length).toBe(0);
  });
});
