import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { SluiceError } from "@sluice/protocol";
import { connect } from "./client.js";
import type { ConnectionEvent } from "./session.js";
import { FakeServer, waitFor } from "../test/fake-server.js";

let server: FakeServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function rejection(promise: Promise<unknown>): Promise<SluiceError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SluiceError)) throw new Error(`expected a SluiceError, got ${String(error)}`);
  return error;
}

describe("connect", () => {
  it("connect - resolves after welcome with the session and window", async () => {
    server = await FakeServer.start({ window: 5, datasets: {} });
    const client = await connect({ url: server.url, token: "good", WebSocket });
    expect(client.session).toBe("s1");
    expect(client.window).toBe(5);
    expect(client.connected).toBe(true);
    expect(server.received("hello")).toHaveLength(1);
    client.close();
    expect(client.connected).toBe(false);
  });

  it("connect - rejects with the server's code when the token is refused", async () => {
    server = await FakeServer.start({ datasets: {} });
    const error = await rejection(connect({ url: server.url, token: "bad", WebSocket }));
    expect(error.code).toBe("AUTH_INVALID");
  });

  it("connect - getToken gives the token of every connect and reconnect", async () => {
    server = await FakeServer.start({ datasets: {} });
    const fake = server;
    let calls = 0;
    const client = await connect({ url: fake.url, getToken: async () => (++calls, "good"), WebSocket });
    expect(calls).toBe(1);
    expect(fake.messages.find((m) => m.type === "hello")).toMatchObject({ token: "good" });
    // Lost connection: the reconnect asks for a token again (this fake server cannot resume).
    fake.dropConnections();
    await expect.poll(() => calls, { timeout: 5_000 }).toBe(2);
    client.close();
  });

  it("connect - needs a token or getToken", async () => {
    await expect(connect({ url: "ws://127.0.0.1:9", WebSocket })).rejects.toThrow(TypeError);
  });

  it("connect - rejects with SERVICE_UNAVAILABLE when nothing listens", async () => {
    server = await FakeServer.start({ datasets: {} });
    const url = server.url;
    await server.close();
    server = undefined;
    const error = await rejection(connect({ url, token: "good", WebSocket }));
    expect(error.code).toBe("SERVICE_UNAVAILABLE");
  });

  it("connect - rejects with SERVICE_UNAVAILABLE when no welcome comes in time", async () => {
    const { WebSocketServer } = await import("ws");
    const silent = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((resolve) => silent.once("listening", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const error = await rejection(connect({ url: `ws://127.0.0.1:${port}`, token: "good", WebSocket, connectTimeoutMs: 100 }));
      expect(error.code).toBe("SERVICE_UNAVAILABLE");
      expect(error.message).toMatch(/no welcome/);
    } finally {
      for (const ws of silent.clients) ws.terminate();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe("SluiceClient.query", () => {
  it("ids - generated ids are unique; a given id is used and a duplicate refused", async () => {
    server = await FakeServer.start({ window: 1, datasets: { n: { chunks: ["1\n", "2\n"] } } });
    const client = await connect({ url: server.url, token: "good", WebSocket });
    const ids = [client.query("n").id, client.query("n").id, client.query("n", {}, { id: "mine" }).id];
    expect(new Set(ids).size).toBe(3);
    expect(ids[2]).toBe("mine");
    expect(() => client.query("n", {}, { id: "mine" })).toThrow(expect.objectContaining({ code: "DUPLICATE_REQUEST" }));
    expect(() => client.query("n", {}, { id: "not valid!" })).toThrow(RangeError);
    client.close();
  });

  it("query - sends dataset, params and format as given", async () => {
    server = await FakeServer.start({ datasets: { n: { chunks: [] } } });
    const client = await connect({ url: server.url, token: "good", WebSocket });
    const stream = client.query("n", { from: "2024-01-01", limit: 5, flag: true, none: null }, { format: "ndjson" });
    expect(await stream.result).toEqual({ rows: 0, chunks: 0, bytes: 0 });
    expect(stream.format).toBe("ndjson");
    expect((await stream.meta).format).toBe("ndjson");
    expect(server.messages.find((m) => m.type === "query")).toEqual({
      type: "query",
      id: stream.id,
      dataset: "n",
      params: { from: "2024-01-01", limit: 5, flag: true, none: null },
      format: "ndjson",
    });
    client.close();
  });
});

describe("SluiceClient.onConnection", () => {
  const session = "5e".repeat(24);

  it("events - a dropped socket reports reconnecting, then resumed, and the state follows", async () => {
    server = await FakeServer.start({ session, datasets: {} });
    const client = await connect({ url: server.url, token: "good", WebSocket });
    const events: ConnectionEvent[] = [];
    client.onConnection((event) => events.push(event));
    expect(client.state).toBe("open");
    server.dropConnections();
    await waitFor(() => events.length >= 1);
    expect(events[0]).toMatchObject({ type: "reconnecting", error: { code: "SERVICE_UNAVAILABLE" } });
    await waitFor(() => events.length >= 2);
    expect(events[1]).toEqual({ type: "resumed" });
    expect(client.state).toBe("open");
    const hellos = server.messages.filter((m) => m.type === "hello");
    expect(hellos.at(-1)).toMatchObject({ resume: { session } });
    client.close();
    expect(events.map((e) => e.type)).toEqual(["reconnecting", "resumed", "closed"]);
    expect(client.state).toBe("closed");
  });

  it("events - closed once, with the error, when reconnecting gives up; removed listeners hear nothing", async () => {
    server = await FakeServer.start({ datasets: {} });
    const client = await connect({ url: server.url, token: "good", WebSocket, reconnectTimeoutMs: 300 });
    const events: ConnectionEvent[] = [];
    const silenced: ConnectionEvent[] = [];
    client.onConnection((event) => events.push(event));
    const stop = client.onConnection((event) => silenced.push(event));
    stop();
    await server.close();
    server = undefined;
    await waitFor(() => events.some((e) => e.type === "closed"), 5_000);
    expect(events.map((e) => e.type)).toEqual(["reconnecting", "closed"]);
    expect(events[1]).toMatchObject({ type: "closed", error: { code: "SERVICE_UNAVAILABLE" } });
    expect(client.state).toBe("closed");
    client.close();
    expect(events).toHaveLength(2);
    expect(silenced).toEqual([]);
  });
});
