import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer, type WebSocket as ServerSocket } from "ws";
import { PROTOCOL_VERSION, SluiceError, encodeMessage } from "@sluice/protocol";
import { connect } from "./client.js";

let wss: WebSocketServer | undefined;

afterEach(async () => {
  for (const ws of wss?.clients ?? []) ws.terminate();
  await new Promise((resolve) => (wss ? wss.close(resolve) : resolve(undefined)));
  wss = undefined;
});

/** A server that welcomes the client, then lets the test act on the socket when a query arrives. */
async function serve(onQuery: (ws: ServerSocket) => void): Promise<string> {
  wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((resolve) => wss?.once("listening", resolve));
  wss.on("connection", (ws) => {
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString()) as { type: string };
      if (message.type === "hello") ws.send(encodeMessage({ type: "welcome", v: PROTOCOL_VERSION, session: "s", window: 2 }));
      if (message.type === "query") onQuery(ws);
    });
  });
  const address = wss.address();
  if (typeof address !== "object" || address === null) throw new Error("not listening");
  return `ws://127.0.0.1:${address.port}`;
}

async function failure(promise: Promise<unknown>): Promise<SluiceError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SluiceError)) throw new Error(`expected a SluiceError, got ${String(error)}`);
  return error;
}

describe("Socket", () => {
  it("frames - a malformed text frame closes the socket and fails queries, BAD_FRAME as cause", async () => {
    const url = await serve((ws) => ws.send('{"type":"meta"}'));
    const client = await connect({ url, token: "t", WebSocket });
    const error = await failure(client.query("d").result);
    expect(error.code).toBe("SERVICE_UNAVAILABLE");
    expect(error.cause).toMatchObject({ code: "BAD_FRAME" });
    expect(client.connected).toBe(false);
  });

  it("frames - a binary frame that is not a chunk closes the socket", async () => {
    const url = await serve((ws) => ws.send(new Uint8Array([9, 9, 9]), { binary: true }));
    const client = await connect({ url, token: "t", WebSocket });
    expect((await failure(client.query("d").result)).code).toBe("SERVICE_UNAVAILABLE");
  });

  it("close - a session-level error before the close is named in the failure", async () => {
    const url = await serve((ws) => {
      ws.send(encodeMessage({ type: "error", code: "SERVICE_UNAVAILABLE", message: "The edge is shutting down" }));
      ws.close(1013, "SERVICE_UNAVAILABLE");
    });
    const client = await connect({ url, token: "t", WebSocket });
    const error = await failure(client.query("d").result);
    expect(error.code).toBe("SERVICE_UNAVAILABLE");
    expect(error.message).toMatch(/The edge is shutting down/);
    expect(error.cause).toMatchObject({ code: "SERVICE_UNAVAILABLE" });
  });
});
