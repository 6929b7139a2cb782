import { createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect, type SluiceClient } from "@sluice/client";
import { PROTOCOL_VERSION, csvHeader, encodeChunkHeader } from "@sluice/protocol";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { RawSocket } from "./fixtures/raw-socket.js";
import { useTestStack } from "./fixtures/stack.js";

/**
 * A hostile client on the same edge as a normal one: whatever it sends gets a coded error (or is
 * served safely), tells it nothing of other tenants, SQL or the code, and the normal client's
 * export, running all the while, ends byte for byte as COPY writes it.
 */

const HOSTILE = "acme";
const VICTIM = "victim";
const EXPORT_SQL = "SELECT * FROM ledger ORDER BY id";
const HELLO_TIMEOUT_MS = 1_000;
const MAX_FRAME_BYTES = 65_536;
const MAX_SOCKETS_PER_TENANT = 8;

const stack = useTestStack({
  workers: 2,
  env: {
    SLUICE_HELLO_TIMEOUT_MS: String(HELLO_TIMEOUT_MS),
    SLUICE_MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
    SLUICE_MAX_REQUESTS_PER_SOCKET: "2",
    SLUICE_MAX_QUEUED_PER_SOCKET: "1",
    SLUICE_MAX_SOCKETS_PER_TENANT: String(MAX_SOCKETS_PER_TENANT),
    SLUICE_CHUNK_BYTES: "16384",
    SLUICE_WINDOW: "4",
  },
  datasets: {
    export: { sql: EXPORT_SQL, key: "id" },
    small: { sql: "SELECT id, name FROM items ORDER BY id" },
    by_name: { sql: "SELECT id, name FROM items WHERE name = $1 ORDER BY id", params: [{ name: "name", type: "text", required: true }] },
    by_id: { sql: "SELECT id, name FROM items WHERE id = $1 ORDER BY id", params: [{ name: "id", type: "int8", required: true }] },
    by_doc: { sql: "SELECT id, name FROM items WHERE id = ($1::jsonb ->> 'id')::int8 ORDER BY id", params: [{ name: "doc", type: "jsonb", required: true }] },
    // Enough rows that a request nobody acks keeps running.
    endless: { sql: "SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 1000000) AS g" },
  },
  setup: async (db) => {
    await db.query(String.raw`
      CREATE SCHEMA victim;
      CREATE TABLE victim.ledger AS
        SELECT g::int8 AS id, 'VICTIM-MARKER-' || g AS secret,
               CASE WHEN g % 7 = 0 THEN NULL WHEN g % 11 = 0 THEN E'quote " comma , line\nend' WHEN g % 13 = 0 THEN ''
                    ELSE 'é☃𝄞-' || md5(g::text) END AS note,
               (g * 1.5)::numeric(12, 2) AS amount, repeat(md5(g::text), 6) AS pad
        FROM generate_series(1, 6000) AS g;
      ALTER TABLE victim.ledger ADD PRIMARY KEY (id);
      CREATE SCHEMA acme;
      CREATE TABLE acme.items (id int8 PRIMARY KEY, name text NOT NULL);
      INSERT INTO acme.items VALUES (1, 'alice'), (2, 'bob'), (3, ''' or 1=1 --'), (4, '1; drop table items'), (5, '☃ 𝄞 é'), (6, E'tab\there');
    `);
  },
});

// ---------------------------------------------------------------------------------------------
// Tokens, good and bad.

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
const now = (): number => Math.floor(Date.now() / 1000);

function hmacToken(secret: string, claims: Record<string, unknown>, alg = "HS256"): string {
  const body = `${b64({ alg, typ: "JWT" })}.${b64(claims)}`;
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[alg] ?? "sha256";
  return `${body}.${createHmac(hash, secret).update(body).digest("base64url")}`;
}

async function token(tenant: string, extra: Record<string, unknown> = {}, ttlS = 600): Promise<string> {
  return new SignJWT({ tenant, ...extra })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject("hostile")
    .setExpirationTime(now() + ttlS)
    .sign(new TextEncoder().encode(stack().secret));
}

/** Replaces the payload of a signed token, keeping its header and signature. */
function tampered(signed: string, claims: Record<string, unknown>): string {
  const [header, , signature] = signed.split(".");
  return `${header}.${b64(claims)}.${signature}`;
}

// ---------------------------------------------------------------------------------------------
// The normal client.

let expectedCsv: Buffer;
let victim: SluiceClient;
/** Id of the normal client's running export (a new one per case: ids are not reused). */
let victimRequest = "";
let exports = 0;

beforeAll(async () => {
  const s = stack();
  expectedCsv = await s.copyCsv(VICTIM, EXPORT_SQL);
  victim = await connect({ url: s.url, token: await s.token(VICTIM, "normal"), WebSocket });
});
afterAll(() => victim?.close());

/**
 * Runs `hostile` while the normal client streams its export, reading on until half of it while
 * the hostile case runs, then the rest; the export must equal COPY's output byte for byte.
 */
async function whileVictimExports(hostile: () => Promise<void>): Promise<void> {
  victimRequest = `v-export-${++exports}`;
  const stream = victim.query("export", {}, { id: victimRequest });
  const meta = await stream.meta;
  const parts = [Buffer.from(csvHeader(meta.columns.map((c) => c.name)))];
  let bytes = 0;
  let waited = false;
  const attack = hostile();
  attack.catch(() => undefined); // awaited below; its failure is the test's
  for await (const chunk of stream) {
    parts.push(Buffer.from(chunk.data));
    bytes += chunk.data.length;
    if (!waited && bytes >= expectedCsv.length / 2) {
      waited = true;
      await attack; // the export is mid-stream for the whole of the hostile case
    }
  }
  await attack;
  const got = Buffer.concat(parts);
  expect(got.length).toBe(expectedCsv.length);
  expect(got.equals(expectedCsv)).toBe(true);
  expect(victim.connected).toBe(true);
}

// ---------------------------------------------------------------------------------------------
// The hostile client.

/** What must never appear in what a hostile client is told. */
const LEAKS: readonly [string, RegExp][] = [
  ["SQL text", /\bselect\b|\bfrom\s|\bwhere\b|\border by\b/i],
  ["a stack trace", /\n\s*at\s|\bat\s+\S+\s+\(|node:internal|\.(?:ts|js|mjs):\d+/],
  ["a file path", /\/(?:work|home|usr|tmp|src|dist|node_modules)\//],
  ["a database message", /syntax error|relation "|column "|ERROR:|violates|invalid input syntax|permission denied/i],
  ["the other tenant's data", /VICTIM-MARKER|ledger/i],
];

class Hostile {
  readonly sockets: RawSocket[] = [];

  async open(): Promise<RawSocket> {
    const socket = await RawSocket.open(stack().url);
    this.sockets.push(socket);
    return socket;
  }

  async welcomed(tenant = HOSTILE): Promise<RawSocket> {
    const socket = await RawSocket.welcomed(stack().url, await token(tenant));
    this.sockets.push(socket);
    return socket;
  }

  /** Says hello with `bad`; expects the error `code` and the socket closed with `closeCode`. */
  async refused(bad: string, code: string, closeCode = 4401): Promise<void> {
    const socket = await this.open();
    socket.send({ type: "hello", v: PROTOCOL_VERSION, token: bad });
    expect(await socket.nextText()).toMatchObject({ type: "error", code });
    expect((await socket.closed).code).toBe(closeCode);
  }

  /** Sends each frame; expects one error `code` for each, and the socket still serving. */
  async eachDraws(frames: readonly (Record<string, unknown> | string | Buffer)[], code: string): Promise<void> {
    const socket = await this.welcomed();
    for (const frame of frames) {
      if (Buffer.isBuffer(frame)) socket.ws.send(frame, { binary: true });
      else socket.send(frame);
      expect(await socket.nextText(), JSON.stringify(frame).slice(0, 100)).toMatchObject({ type: "error", code });
    }
    await expectServing(socket);
  }

  /** Every text frame a hostile socket received: codes only from the registry, and nothing leaked. */
  checkNothingLeaked(): void {
    for (const message of this.sockets.flatMap((s) => s.texts)) {
      if (message.type !== "error") continue;
      const text = String(message.message);
      for (const [what, pattern] of LEAKS) expect(text, `${what} in ${JSON.stringify(message)}`).not.toMatch(pattern);
      expect(text.length).toBeLessThan(300);
    }
  }

  close(): void {
    for (const socket of this.sockets) socket.close();
  }
}

/** The socket still runs a query to its end. */
async function expectServing(socket: RawSocket): Promise<void> {
  expect(socket.open).toBe(true);
  const { last, payload } = await socket.runQuery(`ok-${Math.random().toString(36).slice(2, 10)}`, "small");
  expect(last).toMatchObject({ type: "end", rows: 6 });
  expect(payload.split("\n")[0]).toBe("1,alice");
}

/** Rows of a by_* dataset, as CSV lines; or the error code. */
async function lookup(socket: RawSocket, dataset: string, params: Record<string, unknown>): Promise<string[] | string> {
  const { last, payload } = await socket.runQuery(`l-${Math.random().toString(36).slice(2, 10)}`, dataset, params);
  return last.type === "end" ? payload.split("\n").filter((line) => line !== "") : String(last.code);
}

type HostileCase = readonly [string, (h: Hostile) => Promise<void>];

const TOKENS: HostileCase[] = [
  ["an expired token", (h) => token(HOSTILE, {}, -120).then((t) => h.refused(t, "AUTH_EXPIRED"))],
  ["a token signed with another secret", (h) => h.refused(hmacToken("not-the-edge-secret-at-all", { tenant: HOSTILE, exp: now() + 600 }), "AUTH_INVALID")],
  ["a good token whose tenant was swapped for the other tenant's", async (h) => h.refused(tampered(await token(HOSTILE), { tenant: VICTIM, sub: "hostile", exp: now() + 600 }), "AUTH_INVALID")],
  ["an alg none token", (h) => h.refused(`${b64({ alg: "none", typ: "JWT" })}.${b64({ tenant: VICTIM, exp: now() + 600 })}.`, "AUTH_INVALID")],
  ["an alg none token with a signature", async (h) => h.refused(`${b64({ alg: "none" })}.${b64({ tenant: VICTIM, exp: now() + 600 })}.${(await token(VICTIM)).split(".")[2]}`, "AUTH_INVALID")],
  ["an HS512 token signed with the edge's own secret", (h) => h.refused(hmacToken(stack().secret, { tenant: HOSTILE, exp: now() + 600 }, "HS512"), "AUTH_INVALID")],
  ["a token without a tenant claim", (h) => h.refused(hmacToken(stack().secret, { sub: "x", exp: now() + 600 }), "AUTH_INVALID")],
  ["a token whose tenant is an object", (h) => h.refused(hmacToken(stack().secret, { tenant: { schema: VICTIM }, exp: now() + 600 }), "AUTH_INVALID")],
  ["a token whose datasets claim is not a list", (h) => h.refused(hmacToken(stack().secret, { tenant: HOSTILE, datasets: "*", exp: now() + 600 }), "AUTH_INVALID")],
  ["a token not yet valid (nbf in an hour)", (h) => h.refused(hmacToken(stack().secret, { tenant: HOSTILE, nbf: now() + 3600, exp: now() + 7200 }), "AUTH_INVALID")],
  ["garbage instead of a token", (h) => h.refused("a.b.c", "AUTH_INVALID")],
  ["a token over 16 KiB", (h) => h.refused("x".repeat(16_385), "HELLO_REQUIRED")],
  ["a hello in protocol version 2", async (h) => {
    const socket = await h.open();
    socket.send({ type: "hello", v: 2, token: await token(HOSTILE) });
    expect(await socket.nextText()).toMatchObject({ code: "UNSUPPORTED_VERSION" });
    expect((await socket.closed).code).toBe(4400);
  }],
  ["hello never sent", async (h) => {
    const socket = await h.open();
    const started = Date.now();
    expect(await socket.nextText(HELLO_TIMEOUT_MS * 5)).toMatchObject({ type: "error", code: "HELLO_REQUIRED" });
    expect((await socket.closed).code).toBe(4401);
    expect(Date.now() - started).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 100);
  }],
  ["a query before hello", async (h) => {
    const socket = await h.open();
    socket.send({ type: "query", id: "early", dataset: "export", params: {} });
    expect(await socket.nextText()).toMatchObject({ code: "HELLO_REQUIRED" });
    expect((await socket.closed).code).toBe(4401);
  }],
  ["tenants that are not schema names", async (h) => {
    // Refused at hello: such a tenant could never run a request.
    for (const tenant of ['acme"; DROP SCHEMA victim CASCADE; --', "victim,acme", "pg_catalog", "information_schema", "acme\u0000", "ａｃｍｅ"]) {
      await h.refused(await token(tenant), "TENANT_INVALID", 1008);
    }
    expect((await stack().sql("SELECT count(*)::int AS n FROM victim.ledger")).rows[0]).toEqual({ n: 6000 });
  }],
  ["a refresh with the other tenant's token", async (h) => {
    const socket = await h.welcomed();
    socket.send({ type: "refresh", token: await token(VICTIM) });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "AUTH_INVALID" });
    expect((await socket.closed).code).toBe(4401);
  }],
  ["a resume of the other tenant's session", async (h) => {
    const socket = await h.open();
    socket.send({ type: "hello", v: PROTOCOL_VERSION, token: await token(HOSTILE), resume: { session: victim.session, requests: [{ id: victimRequest, next: 0 }] } });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "RESUME_FAILED" });
    expect(socket.texts.some((m) => m.type === "welcome")).toBe(false);
  }],
  ["a resume of its own session listing a request twice, and requests that never existed", async (h) => {
    const first = await h.welcomed();
    const session = String(first.texts[0]?.session);
    first.send({ type: "query", id: "e1", dataset: "endless", params: {} });
    const head = await first.collect("e1", { chunks: 2 });
    const sockets = async () => metricTotal(await scrapeMetrics(stack().edges[0]?.port ?? 0), "sluice_edge_sockets");
    const open = await sockets();
    first.close();
    await expect.poll(sockets).toBeLessThan(open); // the edge holds the dropped session's requests

    const again = await h.open();
    const requests = [{ id: "e1", next: head.next }, { id: "e1", next: head.next }, ...["x1", "x2", "x3"].map((id) => ({ id, next: 0 }))];
    again.send({ type: "hello", v: PROTOCOL_VERSION, token: await token(HOSTILE), resume: { session, requests } });
    expect(await again.nextText()).toMatchObject({ type: "welcome", resumed: true });
    // Read from the record, not the queue: the resumed request's chunks wait in the queue meanwhile.
    await expect.poll(() => again.texts.filter((m) => m.type === "error").map((m) => [m.id, m.code])).toEqual([["x1", "RESUME_FAILED"], ["x2", "RESUME_FAILED"], ["x3", "RESUME_FAILED"]]);
    await again.collect("e1", { from: head.next, chunks: 6 });
    await sleep(300);
    // One relay for the request: no chunk came twice.
    const seqs = again.chunkLog.filter((c) => c.id === "e1").map((c) => c.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    again.send({ type: "cancel", id: "e1" });
    expect(await again.textUntil((m) => m.type === "error" && m.id === "e1")).toMatchObject({ code: "CANCELLED" });
  }],
];

const FRAMES: HostileCase[] = [
  ["malformed JSON", (h) => h.eachDraws(["{", "", "{\"type\":\"query\"", "\u0000\u0001", "\uD800", "null", "[]", '"hello"', "1e999", "{}".repeat(1000)], "BAD_FRAME")],
  ["well-formed messages with wrong types", (h) => h.eachDraws([
    { type: "query", id: 5, dataset: "small" },
    { type: "query", id: "a b", dataset: "small" },
    { type: "query", id: "x".repeat(65), dataset: "small" },
    { type: "query", id: "q", dataset: ["small"] },
    { type: "query", id: "q", dataset: "small", params: [1, 2] },
    { type: "query", id: "q", dataset: "small", params: { a: { nested: true } } },
    { type: "query", id: "q", dataset: "small", format: "xml" },
    { type: "ack", id: "q", seq: -1 },
    { type: "ack", id: "q", seq: "1" },
    { type: "ack", id: "q", seq: 1.5 },
    { type: "cancel" },
    { type: "refresh", token: 42 },
  ], "BAD_FRAME")],
  ["unknown message types and prototype keys", (h) => h.eachDraws([
    { type: "launch" }, { type: "welcome", v: 1, session: "s", window: 8 }, { type: "__proto__" }, { type: "constructor" }, { id: "q" },
    '{"type":"query","id":"p","dataset":"small","params":{"__proto__":{"isAdmin":true}}}',
    { type: "query", id: "q", dataset: "small", tenant: VICTIM },
  ], "BAD_FRAME")],
  ["binary frames: garbage and a forged chunk", (h) => h.eachDraws([
    Buffer.from([0xde, 0xad, 0xbe, 0xef]), Buffer.alloc(0), Buffer.from(encodeChunkHeader({ id: victimRequest, seq: 1, rows: 1 })),
  ], "BAD_FRAME")],
  ["a frame over the frame limit", async (h) => {
    const socket = await h.welcomed();
    socket.send(JSON.stringify({ type: "query", id: "big", dataset: "small", params: { pad: "x".repeat(MAX_FRAME_BYTES) } }));
    expect((await socket.closed).code).toBe(1009);
  }],
  ["a flood of 300 bad frames", async (h) => {
    const socket = await h.welcomed();
    for (let i = 0; i < 300; i++) socket.send(`{bad ${i}`);
    for (let i = 0; i < 300; i++) expect(await socket.nextText()).toMatchObject({ code: "BAD_FRAME" });
    await expectServing(socket);
  }],
  ["a flood of 5,000 frames in a moment, over the frame rate", async (h) => {
    const socket = await h.welcomed();
    for (let i = 0; i < 5_000; i++) socket.send({ type: "ack", id: "nothing", seq: i });
    expect((await socket.closed).code).toBe(1008);
    expect(socket.texts.filter((m) => m.code === "TOO_MANY_FRAMES")).toHaveLength(1);
  }],
];

const REQUESTS: HostileCase[] = [
  ["unknown datasets, the other tenant's among them", async (h) => {
    const socket = await h.welcomed();
    expect(await lookup(socket, "nope", {})).toBe("UNKNOWN_DATASET");
    expect(await lookup(socket, "x' UNION SELECT * FROM victim.ledger --", {})).toBe("UNKNOWN_DATASET");
    expect(await lookup(socket, "../../etc/passwd", {})).toBe("UNKNOWN_DATASET");
    // A dataset name the config has, read in the hostile tenant's schema: no such table there.
    expect(await lookup(socket, "export", {})).toBe("QUERY_FAILED");
    await expectServing(socket);
  }],
  ["ill-typed and injection-shaped int8 params", async (h) => {
    const socket = await h.welcomed();
    for (const id of ["abc", 1.5, "1; drop table items", "1 or 1=1", "1)--", "0x10", "１", true, "9223372036854775808", ""]) {
      expect(await lookup(socket, "by_id", { id }), String(id)).toBe("PARAM_INVALID");
    }
    expect(await lookup(socket, "by_id", { id: "3" })).toEqual(["3,' or 1=1 --"]);
    expect(await lookup(socket, "by_id", { id: 3 })).toEqual(["3,' or 1=1 --"]);
  }],
  ["injection-shaped text params are bound as values", async (h) => {
    const socket = await h.welcomed();
    expect(await lookup(socket, "by_name", { name: "' or 1=1 --" })).toEqual(["3,' or 1=1 --"]);
    expect(await lookup(socket, "by_name", { name: "1; drop table items" })).toEqual(["4,1; drop table items"]);
    expect(await lookup(socket, "by_name", { name: "Robert'); DROP TABLE items;--" })).toEqual([]);
    expect(await lookup(socket, "by_name", { name: "x' UNION SELECT secret, secret FROM victim.ledger --" })).toEqual([]);
    expect(await lookup(socket, "by_name", { name: "$1" })).toEqual([]);
    expect(await lookup(socket, "by_name", { name: "☃ 𝄞 é" })).toEqual(["5,☃ 𝄞 é"]);
    expect(await lookup(socket, "by_name", { name: "tab\there" })).toEqual(["6,tab\there"]);
    expect(await lookup(socket, "by_name", { name: "a\u0000b" })).toBe("PARAM_INVALID");
    expect(await lookup(socket, "by_name", { name: 42 })).toBe("PARAM_INVALID");
    expect(await lookup(socket, "by_name", {})).toBe("PARAM_MISSING");
    expect(await lookup(socket, "by_name", { name: "alice", "name; drop table items": "x" })).toBe("PARAM_UNKNOWN");
    expect(await lookup(socket, "by_doc", { doc: '{"id": "2"}' })).toEqual(["2,bob"]);
    expect(await lookup(socket, "by_doc", { doc: "{\"id\": \"2'); drop table items; --\"}" })).toBe("QUERY_FAILED");
    expect(await lookup(socket, "by_doc", { doc: "{" })).toBe("PARAM_INVALID");
    expect((await stack().sql("SELECT count(*)::int AS n FROM acme.items")).rows[0]).toEqual({ n: 6 });
  }],
  ["acks and cancels for unknown requests", (h) => h.eachDraws([
    { type: "ack", id: "ghost", seq: 0 }, { type: "cancel", id: "ghost" }, { type: "ack", id: "ghost", seq: 4294967295 },
  ], "UNKNOWN_REQUEST")],
  ["acks and cancels for the other session's running request", async (h) => {
    const socket = await h.welcomed();
    for (const message of [{ type: "cancel", id: victimRequest }, { type: "ack", id: victimRequest, seq: 1 }, { type: "ack", id: victimRequest, seq: 100_000 }]) {
      socket.send(message);
      expect(await socket.nextText()).toMatchObject({ type: "error", id: victimRequest, code: "UNKNOWN_REQUEST" });
    }
    await expectServing(socket);
  }],
  ["a duplicate request id while the first runs", async (h) => {
    const socket = await h.welcomed();
    socket.send({ type: "query", id: "dup", dataset: "endless", params: {} });
    expect(await socket.nextText()).toMatchObject({ type: "meta", id: "dup" });
    socket.send({ type: "query", id: "dup", dataset: "small", params: {} });
    expect(await socket.nextText()).toMatchObject({ type: "error", id: "dup", code: "DUPLICATE_REQUEST" });
    socket.send({ type: "ack", id: "dup", seq: 0 });
    expect("binary" in (await socket.next())).toBe(true); // the first one goes on
    socket.send({ type: "cancel", id: "dup" });
    expect(await socket.textUntil((m) => m.type === "error")).toMatchObject({ id: "dup", code: "CANCELLED" });
  }],
  ["a finished request's id used again", async (h) => {
    const socket = await h.welcomed();
    expect((await socket.runQuery("once", "small")).last).toMatchObject({ type: "end", rows: 6 });
    expect((await socket.runQuery("once", "small")).last).toMatchObject({ type: "error", id: "once", code: "DUPLICATE_REQUEST" });
  }],
  ["a finished request's id used again after a resume, on a socket that never saw it", async (h) => {
    const first = await h.welcomed();
    const session = String(first.texts[0]?.session);
    expect((await first.runQuery("before", "small")).last).toMatchObject({ type: "end", rows: 6 });
    first.close();
    const again = await h.open();
    again.send({ type: "hello", v: PROTOCOL_VERSION, token: await token(HOSTILE), resume: { session, requests: [] } });
    expect(await again.nextText()).toMatchObject({ type: "welcome", resumed: true });
    // Not a request that never starts: the edge learns from JetStream that the id was used.
    expect((await again.runQuery("before", "small")).last).toMatchObject({ type: "error", id: "before", code: "DUPLICATE_REQUEST" });
    expect((await again.runQuery("after", "small")).last).toMatchObject({ type: "end", rows: 6 });
  }],
  ["too many requests on one socket", async (h) => {
    const socket = await h.welcomed();
    for (const id of ["r1", "r2", "r3"]) socket.send({ type: "query", id, dataset: "endless", params: {} });
    const metas = [await socket.nextText(), await socket.nextText()];
    expect(metas.map((m) => [m.type, m.id]).sort()).toEqual([["meta", "r1"], ["meta", "r2"]]);
    socket.send({ type: "query", id: "r4", dataset: "small", params: {} });
    expect(await socket.nextText()).toMatchObject({ type: "error", id: "r4", code: "TOO_MANY_REQUESTS" });
    socket.send({ type: "query", id: "r3", dataset: "small", params: {} });
    expect(await socket.nextText()).toMatchObject({ type: "error", id: "r3", code: "DUPLICATE_REQUEST" });
    // A running request ends: the waiting one starts (its meta may come before r1's CANCELLED).
    socket.send({ type: "cancel", id: "r1" });
    const seen = (id: string, type: string) => socket.texts.some((m) => m.id === id && m.type === type);
    await expect.poll(() => seen("r1", "error") && seen("r3", "meta"), { timeout: 10_000 }).toBe(true);
    expect(socket.texts.find((m) => m.id === "r1" && m.type === "error")).toMatchObject({ code: "CANCELLED" });
    for (const id of ["r2", "r3"]) {
      socket.send({ type: "cancel", id });
      expect(await socket.textUntil((m) => m.id === id && m.type === "error")).toMatchObject({ code: "CANCELLED" });
    }
    await expectServing(socket);
  }],
  ["a waiting request cancelled before it starts", async (h) => {
    const socket = await h.welcomed();
    for (const id of ["w1", "w2", "w3"]) socket.send({ type: "query", id, dataset: "endless", params: {} });
    await socket.nextText();
    await socket.nextText();
    socket.send({ type: "cancel", id: "w3" });
    expect(await socket.nextText()).toMatchObject({ type: "error", id: "w3", code: "CANCELLED" });
    for (const id of ["w1", "w2"]) {
      socket.send({ type: "cancel", id });
      expect(await socket.textUntil((m) => m.id === id && m.type === "error")).toMatchObject({ code: "CANCELLED" });
    }
    // w3 never started: nothing of it arrives after its cancel.
    await expectServing(socket);
    expect(socket.texts.filter((m) => m.id === "w3").map((m) => m.type)).toEqual(["error"]);
  }],
  ["too many sockets for one tenant", async (h) => {
    const crowd = "crowd";
    const sockets = [];
    for (let i = 0; i < MAX_SOCKETS_PER_TENANT; i++) sockets.push(await h.welcomed(crowd));
    const extra = await h.open();
    extra.send({ type: "hello", v: PROTOCOL_VERSION, token: await token(crowd) });
    expect(await extra.nextText()).toMatchObject({ type: "error", code: "TOO_MANY_SOCKETS" });
    expect((await extra.closed).code).toBe(4429);
    // Other tenants are not affected, and a closed socket frees its place.
    await expectServing(await h.welcomed());
    sockets[0]?.ws.close();
    await sockets[0]?.closed;
    await expect.poll(async () => {
      const again = await RawSocket.open(stack().url);
      h.sockets.push(again);
      again.send({ type: "hello", v: PROTOCOL_VERSION, token: await token(crowd) });
      return (await again.nextText()).type;
    }, { timeout: 5_000 }).toBe("welcome");
  }],
];

describe.each([
  ["tokens and hello", TOKENS],
  ["frames", FRAMES],
  ["requests", REQUESTS],
])("hostile client - %s", (_group, cases) => {
  test.each(cases)("%s: coded errors, nothing leaked, the normal export byte-identical", async (_name, run) => {
    const hostile = new Hostile();
    try {
      await whileVictimExports(() => run(hostile));
      hostile.checkNothingLeaked();
    } finally {
      hostile.close();
    }
  });
});
