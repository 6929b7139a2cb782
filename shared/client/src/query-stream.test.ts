import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { SluiceError } from "@sluice/protocol";
import { connect, type SluiceClient } from "./client.js";
import type { QueryChunk } from "./query-stream.js";
import { FakeServer, delay, waitFor, type FakeServerOptions } from "../test/fake-server.js";

const lines = (from: number, to: number): string => {
  let out = "";
  for (let i = from; i <= to; i++) out += `${i}\n`;
  return out;
};
const numbered = (count: number): string[] => Array.from({ length: count }, (_, i) => lines(i * 3 + 1, i * 3 + 3));
const text = (chunks: QueryChunk[]): string => chunks.map((c) => Buffer.from(c.data).toString()).join("");

let server: FakeServer | undefined;
let client: SluiceClient | undefined;

async function setup(options: FakeServerOptions): Promise<{ server: FakeServer; client: SluiceClient }> {
  server = await FakeServer.start(options);
  // The fake server never takes a session back: give up reconnecting after a second, not a minute.
  client = await connect({ url: server.url, token: "good", WebSocket, reconnectTimeoutMs: 1_000, connectTimeoutMs: 1_000 });
  return { server, client };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return error instanceof SluiceError ? error.code : `not a SluiceError: ${String(error)}`;
}

afterEach(async () => {
  client?.close();
  await server?.close();
  client = server = undefined;
});

describe("QueryStream", () => {
  it("iteration - yields every chunk in seq order, then the server's totals", async () => {
    const { server, client } = await setup({ window: 3, datasets: { n: { chunks: numbered(10) } } });
    const stream = client.query("n");
    const got: QueryChunk[] = [];
    for await (const chunk of stream) got.push(chunk);
    expect(got.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(text(got)).toBe(lines(1, 30));
    expect(await stream.result).toEqual({ rows: 30, chunks: 10, bytes: Buffer.byteLength(lines(1, 30)) });
    expect((await stream.meta).columns).toEqual([{ name: "n", type: "int4" }]);
    await waitFor(() => server.acked(stream.id) === 11);
    expect(server.violations).toEqual([]);
  });

  it("iteration - keeps concurrent queries on one socket apart", async () => {
    const { server, client } = await setup({ window: 2, datasets: { a: { chunks: numbered(8) }, b: { chunks: ["x\n", "y\n", "z\n"] } } });
    const a = client.query("a");
    const b = client.query("b", {}, { format: "ndjson" });
    expect(a.id).not.toBe(b.id);
    const collect = async (stream: AsyncIterable<QueryChunk>): Promise<string> => {
      const got: QueryChunk[] = [];
      for await (const chunk of stream) got.push(chunk);
      return text(got);
    };
    const [ta, tb] = await Promise.all([collect(a), collect(b)]);
    expect(ta).toBe(lines(1, 24));
    expect(tb).toBe("x\ny\nz\n");
    expect(server.received("query").length).toBe(2);
    expect(server.violations).toEqual([]);
  });

  it("acks - sent only as the app consumes, so the server stays within its window", async () => {
    const { server, client } = await setup({ window: 2, datasets: { n: { chunks: numbered(6) } } });
    const stream = client.query("n");
    for await (const chunk of stream) {
      await delay(30);
      // The app holds chunk `seq`: everything before it is acked, it is not.
      expect(server.acked(stream.id)).toBe(chunk.seq - 1);
      expect(server.sent(stream.id)).toBeLessThanOrEqual(chunk.seq - 1 + 2);
    }
    await waitFor(() => server.acked(stream.id) === 7);
    expect(server.violations).toEqual([]);
  });

  it("acks - stay in seq order when end arrives while chunks are still buffered", async () => {
    const { server, client } = await setup({ window: 8, datasets: { n: { chunks: numbered(4) } } });
    const stream = client.query("n");
    await waitFor(() => server.sent(stream.id) === 5);
    await delay(20);
    expect(server.acked(stream.id)).toBe(0);
    const seqs: number[] = [];
    for await (const chunk of stream) seqs.push(chunk.seq);
    expect(seqs).toEqual([1, 2, 3, 4]);
    await waitFor(() => server.acked(stream.id) === 5);
    expect(server.received("ack", stream.id).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(server.violations).toEqual([]);
  });

  it("errors - an error frame makes iteration throw a SluiceError with its code, and is acked", async () => {
    const { server, client } = await setup({ window: 2, datasets: { f: { chunks: numbered(3), failWith: "QUERY_FAILED" } } });
    const stream = client.query("f");
    const iterate = async (): Promise<void> => {
      for await (const chunk of stream) expect(chunk.seq).toBeGreaterThan(0);
    };
    expect(await codeOf(iterate())).toBe("QUERY_FAILED");
    expect(await codeOf(stream.result)).toBe("QUERY_FAILED");
    await waitFor(() => server.acked(stream.id) === 4);
    expect(server.violations).toEqual([]);
  });

  it("errors - an error without seq ends the request: nothing more is acked", async () => {
    const { server, client } = await setup({ window: 2, datasets: { f: { chunks: numbered(3), abortWith: "SERVICE_UNAVAILABLE" } } });
    const stream = client.query("f");
    const iterate = async (): Promise<void> => {
      for await (const chunk of stream) await delay(chunk.seq * 5);
    };
    expect(await codeOf(iterate())).toBe("SERVICE_UNAVAILABLE");
    await delay(20);
    expect(server.violations).toEqual([]);
  });

  it("errors - a rejected query fails meta, result and iteration", async () => {
    const { client } = await setup({ datasets: {} });
    const stream = client.query("missing", { a: "1" });
    expect(await codeOf(stream.meta)).toBe("UNKNOWN_DATASET");
    expect(await codeOf(stream.result)).toBe("UNKNOWN_DATASET");
    expect(await codeOf(stream.rows().next())).toBe("UNKNOWN_DATASET");
  });

  it("cancel - sends cancel, iteration throws CANCELLED, nothing is acked after the cancel", async () => {
    const { server, client } = await setup({ window: 2, datasets: { n: { chunks: numbered(100) } } });
    const stream = client.query("n");
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.seq).toBe(1);
    await stream.cancel();
    expect(server.received("cancel", stream.id).length).toBe(1);
    expect(await codeOf(iterator.next())).toBe("CANCELLED");
    expect(await codeOf(stream.result)).toBe("CANCELLED");
    await delay(20);
    const cancelAt = server.log.findIndex((e) => e.dir === "in" && e.type === "cancel");
    expect(server.log.slice(cancelAt).filter((e) => e.dir === "in" && e.type === "ack")).toEqual([]);
    expect(server.violations).toEqual([]);
  });

  it("cancel - an answer carrying a seq gets every frame before it acked, in order", async () => {
    const { server, client } = await setup({ window: 3, cancelWithSeq: true, datasets: { n: { chunks: numbered(100) } } });
    const stream = client.query("n");
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    await waitFor(() => server.sent(stream.id) === 3);
    await stream.cancel();
    const final = server.log.find((e) => e.dir === "out" && e.type === "error" && e.id === stream.id)?.seq ?? -1;
    expect(final).toBeGreaterThan(0);
    await waitFor(() => server.acked(stream.id) === final);
    expect(server.received("ack", stream.id).map((e) => e.seq)).toEqual(Array.from({ length: final + 1 }, (_, i) => i));
    expect(server.violations).toEqual([]);
  });

  it("cancel - breaking out of for-await cancels the query", async () => {
    const { server, client } = await setup({ window: 2, datasets: { n: { chunks: numbered(100) } } });
    const stream = client.query("n");
    for await (const chunk of stream) if (chunk.seq === 2) break;
    await waitFor(() => server.received("cancel", stream.id).length === 1);
    await stream.cancel();
    expect(server.sent(stream.id)).toBeLessThan(10);
    expect(await codeOf(stream.result)).toBe("CANCELLED");
    expect(server.violations).toEqual([]);
  });

  it("cancel - breaking out of rows() cancels the query", async () => {
    const { server, client } = await setup({ window: 2, datasets: { n: { chunks: numbered(100) } } });
    const stream = client.query("n");
    for await (const row of stream.rows()) if (row[0] === "5") break;
    await waitFor(() => server.received("cancel", stream.id).length === 1);
    expect(server.violations).toEqual([]);
  });

  it("connection - a socket close fails running queries with SERVICE_UNAVAILABLE", async () => {
    const { server, client } = await setup({ window: 2, datasets: { n: { chunks: numbered(100) } } });
    const stream = client.query("n");
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    server.dropConnections();
    expect(await codeOf(iterator.next())).toBe("SERVICE_UNAVAILABLE");
    expect(await codeOf(stream.result)).toBe("SERVICE_UNAVAILABLE");
    expect(client.connected).toBe(false);
    expect(await codeOf(client.query("n").result)).toBe("SERVICE_UNAVAILABLE");
  });

  it("connection - a result that has ended stays readable after the socket closes", async () => {
    const { server, client } = await setup({ window: 8, datasets: { n: { chunks: numbered(3) } } });
    const stream = client.query("n");
    await stream.result;
    server.dropConnections();
    await waitFor(() => !client.connected);
    const seqs: number[] = [];
    for await (const chunk of stream) seqs.push(chunk.seq);
    expect(seqs).toEqual([1, 2, 3]);
  });

  it("rows - decodes CSV with NULL and empty strings, and NDJSON", async () => {
    const { client } = await setup({
      datasets: { c: { chunks: ['1,,""\n2,"a,b","say ""hi"""\n', '3,"line\nbreak",x\n'] }, j: { chunks: ['{"a":1}\n{"a":null}\n', '{"a":"x"}\n'] } },
    });
    const csv: (string | null)[][] = [];
    for await (const row of client.query("c").rows()) csv.push(row);
    expect(csv).toEqual([
      ["1", null, ""],
      ["2", "a,b", 'say "hi"'],
      ["3", "line\nbreak", "x"],
    ]);
    const json: unknown[] = [];
    for await (const row of client.query("j", {}, { format: "ndjson" }).rows()) json.push(row);
    expect(json).toEqual([{ a: 1 }, { a: null }, { a: "x" }]);
  });

  it("iteration - a stream can be read only once", async () => {
    const { client } = await setup({ datasets: { n: { chunks: numbered(2) } } });
    const stream = client.query("n");
    for await (const chunk of stream) expect(chunk.rows).toBe(3);
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toThrow(/already being read/);
  });
});
