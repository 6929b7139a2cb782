import { createServer, type Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect } from "@sluice/client";
import { PROTOCOL_VERSION, SluiceError, csvHeader } from "@sluice/protocol";
import { metricTotal, scrapeMetrics } from "./fixtures/metrics.js";
import { RawSocket } from "./fixtures/raw-socket.js";
import { startTestStack, type TestStack } from "./fixtures/stack.js";

/**
 * Tokens checked against a JWKS served by a real HTTP server, and a token's life on a long-lived
 * socket: refresh, expiry, and resume with a new token.
 */

const TENANT = "acme";
const OTHER_TENANT = "globex";
const ISSUER = "https://idp.test";
const AUDIENCE = "sluice";
const SKEW_S = 1;
const ROWS_SQL = "SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 6000) AS g ORDER BY g";

interface SigningKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

async function signingKey(alg: string, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : {});
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** A JWKS endpoint, as an identity provider serves it. */
class JwksServer {
  requests = 0;
  readonly #server: Server;

  constructor(keys: readonly JWK[]) {
    this.#server = createServer((_req, res) => {
      this.requests++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address();
    return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/.well-known/jwks.json`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

let keys: Record<"rs" | "es" | "ed" | "stranger", SigningKey>;
let jwks: JwksServer;
let stack: TestStack | undefined;
const s = (): TestStack => {
  if (!stack) throw new Error("the test stack is not running");
  return stack;
};

beforeAll(async () => {
  keys = {
    rs: await signingKey("RS256", "rs-1"),
    es: await signingKey("ES256", "es-1"),
    ed: await signingKey("EdDSA", "ed-1"),
    // Not in the key set; it signs with the kid of one that is.
    stranger: { ...(await signingKey("RS256", "rs-1")) },
  };
  jwks = new JwksServer([keys.rs.publicJwk, keys.es.publicJwk, keys.ed.publicJwk]);
  const url = await jwks.listen();
  stack = await startTestStack({
    workers: 1,
    jwks: { url, sessionKey: "a-session-key-shared-by-all-edges" },
    env: {
      SLUICE_JWT_ISSUER: ISSUER,
      SLUICE_JWT_AUDIENCE: AUDIENCE,
      SLUICE_JWT_CLOCK_SKEW_S: String(SKEW_S),
      SLUICE_CHUNK_BYTES: "4096",
      SLUICE_WINDOW: "2",
    },
    datasets: { rows: { sql: ROWS_SQL }, small: { sql: "SELECT 1 AS one" } },
    setup: async (db) => {
      await db.query(`CREATE SCHEMA ${TENANT}; CREATE SCHEMA ${OTHER_TENANT}`);
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await jwks?.close();
});
beforeEach(({ onTestFailed }) => onTestFailed(() => void process.stderr.write(`\n${stack?.serviceOutput() ?? ""}\n`)));

const now = (): number => Math.floor(Date.now() / 1000);
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

interface TokenSpec {
  key?: SigningKey;
  /** null: no tenant claim at all. */
  tenant?: string | null;
  sub?: string;
  ttlS?: number;
  claims?: Record<string, unknown>;
}

function jwt({ key = keys.rs, tenant = TENANT, sub = "alice", ttlS = 600, claims = {} }: TokenSpec = {}): Promise<string> {
  return new SignJWT({ ...(tenant === null ? {} : { tenant }), ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(sub)
    .setExpirationTime(now() + ttlS)
    .sign(key.privateKey);
}

/** What the edge answers a hello with `token`: "welcome" or the error code. */
async function helloOutcome(token: string): Promise<string> {
  const socket = await RawSocket.open(s().url);
  try {
    socket.send({ type: "hello", v: PROTOCOL_VERSION, token });
    const reply = await socket.nextText();
    return reply.type === "welcome" ? "welcome" : String(reply.code);
  } finally {
    socket.close();
  }
}

async function expectedRows(tenant = TENANT): Promise<string> {
  const copy = (await s().copyCsv(tenant, ROWS_SQL)).toString("utf8");
  return copy.slice(copy.indexOf("\n") + 1);
}

describe("JWKS tokens", () => {
  test.each(["rs", "es", "ed"] as const)("jwks - a %s token from the key set is welcomed and its query runs", async (which) => {
    const socket = await RawSocket.welcomed(s().url, await jwt({ key: keys[which] }));
    try {
      expect((await socket.runQuery("one", "small")).payload).toBe("1\n");
    } finally {
      socket.close();
    }
  });

  test.each<[string, string, () => Promise<string>]>([
    ["HS256 signed with the RSA public key (algorithm confusion)", "AUTH_INVALID", async () => {
      const pem = await exportSPKI((await generateKeyPair("RS256", { extractable: true })).publicKey);
      return new SignJWT({ tenant: TENANT }).setProtectedHeader({ alg: "HS256", kid: "rs-1" }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("1h").sign(new TextEncoder().encode(pem));
    }],
    ["HS256 signed with the session key", "AUTH_INVALID", () =>
      new SignJWT({ tenant: TENANT }).setProtectedHeader({ alg: "HS256" }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("1h").sign(new TextEncoder().encode("a-session-key-shared-by-all-edges"))],
    ["alg none", "AUTH_INVALID", async () => `${b64({ alg: "none", kid: "rs-1" })}.${b64({ tenant: TENANT, iss: ISSUER, aud: AUDIENCE, exp: now() + 600 })}.`],
    ["signed by a key outside the set, with a known kid", "AUTH_INVALID", () => jwt({ key: keys.stranger })],
    ["with a kid the set does not have", "AUTH_INVALID", () => jwt({ key: { ...keys.rs, kid: "rotated-away" } })],
    ["from another issuer", "AUTH_INVALID", () => new SignJWT({ tenant: TENANT }).setProtectedHeader({ alg: "RS256", kid: "rs-1" }).setIssuer("https://evil.test").setAudience(AUDIENCE).setExpirationTime("1h").sign(keys.rs.privateKey)],
    ["for another audience", "AUTH_INVALID", () => new SignJWT({ tenant: TENANT }).setProtectedHeader({ alg: "RS256", kid: "rs-1" }).setIssuer(ISSUER).setAudience("billing").setExpirationTime("1h").sign(keys.rs.privateKey)],
    ["expired beyond the clock skew", "AUTH_EXPIRED", () => jwt({ ttlS: -(SKEW_S + 30) })],
    ["without a tenant claim", "AUTH_INVALID", () => jwt({ tenant: null })],
  ])("jwks - a token %s is refused with %s", async (_what, code, token) => {
    expect(await helloOutcome(await token())).toBe(code);
  });

  test("datasets claim - only the listed datasets; any other, known or not, is DATASET_FORBIDDEN", async () => {
    const socket = await RawSocket.welcomed(s().url, await jwt({ claims: { datasets: ["small"] } }));
    try {
      expect((await socket.runQuery("ok", "small")).payload).toBe("1\n");
      expect((await socket.runQuery("known", "rows")).last).toMatchObject({ type: "error", code: "DATASET_FORBIDDEN" });
      expect((await socket.runQuery("unknown", "nope")).last).toMatchObject({ type: "error", code: "DATASET_FORBIDDEN" });
    } finally {
      socket.close();
    }
  });
});

describe("sessions and token lifetime", () => {
  test("resume - in JWKS mode only the session's own tenant and subject resume it", async () => {
    const first = await RawSocket.open(s().url);
    first.send({ type: "hello", v: PROTOCOL_VERSION, token: await jwt({ sub: "alice" }) });
    const session = String((await first.nextText()).session);
    first.send({ type: "query", id: "r", dataset: "rows", params: {} });
    const head = await first.collect("r", { chunks: 3 });
    first.close(); // dropped, not closed: the request waits for a resume

    const resume = { session, requests: [{ id: "r", next: head.next }] };
    for (const token of [await jwt({ sub: "mallory" }), await jwt({ tenant: OTHER_TENANT, sub: "alice" }), await jwt({ key: keys.es, sub: "bob" })]) {
      const thief = await RawSocket.open(s().url);
      thief.send({ type: "hello", v: PROTOCOL_VERSION, token, resume });
      expect(await thief.nextText()).toMatchObject({ type: "error", code: "RESUME_FAILED" });
      thief.close();
    }

    // The owner, with a token from another key of the set, resumes and reads the rest.
    const owner = await RawSocket.open(s().url);
    owner.send({ type: "hello", v: PROTOCOL_VERSION, token: await jwt({ key: keys.ed, sub: "alice" }), resume });
    expect(await owner.nextText()).toMatchObject({ type: "welcome", session, resumed: true });
    const rest = await owner.collect("r", { from: head.next });
    owner.close();
    expect(rest.last).toMatchObject({ type: "end", rows: 6000 });
    expect(head.payload + rest.payload).toBe(await expectedRows());
  });

  test("expiry - without a refresh the edge closes with AUTH_EXPIRED (4401); the request resumes with a new token, byte for byte", async () => {
    const ttlS = 2;
    const socket = await RawSocket.open(s().url);
    socket.send({ type: "hello", v: PROTOCOL_VERSION, token: await jwt({ ttlS }) });
    const welcome = await socket.nextText();
    expect(welcome).toMatchObject({ type: "welcome" });
    expect(Number(welcome.expires)).toBeGreaterThanOrEqual(now() + ttlS - 1);
    socket.send({ type: "query", id: "long", dataset: "rows", params: {} });
    const head = await socket.collect("long", { chunks: 3 }); // then no more acks: the request stays running
    const error = await socket.textUntil((m) => m.type === "error", (ttlS + SKEW_S + 5) * 1000);
    expect(error).toMatchObject({ code: "AUTH_EXPIRED" });
    expect(error.id).toBeUndefined();
    expect((await socket.closed).code).toBe(4401);

    const back = await RawSocket.open(s().url);
    back.send({ type: "hello", v: PROTOCOL_VERSION, token: await jwt(), resume: { session: welcome.session, requests: [{ id: "long", next: head.next }] } });
    expect(await back.nextText()).toMatchObject({ type: "welcome", resumed: true });
    const tail = await back.collect("long", { from: head.next });
    back.close();
    expect(tail.last).toMatchObject({ type: "end", rows: 6000 });
    expect(head.payload + tail.payload).toBe(await expectedRows());
  });

  test("refresh - a new token for the same subject keeps the socket past the first one's expiry; another subject is refused", async () => {
    const socket = await RawSocket.welcomed(s().url, await jwt({ ttlS: 2 }));
    socket.send({ type: "refresh", token: await jwt({ ttlS: 600, key: keys.es }) });
    const refreshed = await socket.nextText();
    expect(refreshed).toMatchObject({ type: "refreshed" });
    expect(Number(refreshed.expires)).toBeGreaterThan(now() + 500);
    await sleep((2 + SKEW_S + 1.5) * 1000);
    expect(socket.open).toBe(true);
    expect((await socket.runQuery("still", "small")).payload).toBe("1\n");
    socket.send({ type: "refresh", token: await jwt({ sub: "mallory" }) });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "AUTH_INVALID" });
    expect((await socket.closed).code).toBe(4401);
  });

  test("refresh - before hello it draws HELLO_REQUIRED", async () => {
    const socket = await RawSocket.open(s().url);
    socket.send({ type: "refresh", token: await jwt() });
    expect(await socket.nextText()).toMatchObject({ type: "error", code: "HELLO_REQUIRED" });
    expect((await socket.closed).code).toBe(4401);
  });
});

/** Exports `rows` through the SDK, slowly enough to outlive several tokens; returns the CSV. */
async function slowExport(getToken: () => Promise<string>): Promise<string> {
  const client = await connect({ url: s().url, getToken, refreshBeforeMs: 1_500, WebSocket });
  try {
    const stream = client.query("rows");
    let csv = csvHeader((await stream.meta).columns.map((c) => c.name));
    for await (const chunk of stream) {
      csv += Buffer.from(chunk.data).toString("utf8");
      await sleep(90);
    }
    return csv;
  } finally {
    client.close();
  }
}

async function expiredCloses(): Promise<number> {
  return metricTotal(await scrapeMetrics(s().edges[0]?.port ?? 0), "sluice_edge_errors_total", { code: "AUTH_EXPIRED" });
}

describe("client SDK", () => {
  test("client - getToken refreshes before expiry: an export outlives several 3 s tokens on one socket", async () => {
    let calls = 0;
    const closesBefore = await expiredCloses();
    const csv = await slowExport(async () => {
      calls++;
      return jwt({ ttlS: 3 });
    });
    expect(csv).toBe((await s().copyCsv(TENANT, ROWS_SQL)).toString("utf8"));
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(await expiredCloses()).toBe(closesBefore);
  });

  test("client - when no new token comes in time, the edge closes at expiry and the client reconnects with a new token and resumes", async () => {
    let calls = 0;
    const closesBefore = await expiredCloses();
    const csv = await slowExport(async () => {
      calls++;
      if (calls === 2) throw new SluiceError("AUTH_INVALID", "the identity provider is down");
      return jwt({ ttlS: calls === 1 ? 2 : 600 });
    });
    expect(csv).toBe((await s().copyCsv(TENANT, ROWS_SQL)).toString("utf8"));
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(await expiredCloses()).toBe(closesBefore + 1);
  });
});
