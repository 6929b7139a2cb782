import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { PROTOCOL_VERSION, SluiceError, encodeChunkHeader, parseClientMessage, type ErrorCode, type ServerMessage } from "@sluice/protocol";
import { exportCommand, type ExportIo, type ExportOptions } from "./export-command.js";

interface Script {
  chunks: string[];
  failWith?: ErrorCode;
  window: number;
}

/** A one-request protocol server: meta, chunks within the window, then end or an error. */
class TinyServer {
  readonly acks: number[] = [];
  /** Called on every ack, so a test can check what the client had done by then. */
  onAck: (seq: number) => void = () => undefined;
  readonly #wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  readonly #script: Script;

  constructor(script: Script) {
    this.#script = script;
    this.#wss.on("connection", (ws) => {
      let next = 0;
      let acked = -1;
      let id = "";
      const send = (message: ServerMessage): void => ws.send(JSON.stringify(message));
      const pump = (): void => {
        const last = this.#script.chunks.length + 1;
        while (id !== "" && next <= last && next - (acked + 1) < this.#script.window) {
          const seq = next++;
          const chunk = this.#script.chunks[seq - 1];
          if (seq === 0) send({ type: "meta", id, seq, format: "csv", columns: [{ name: "id", type: "int4" }, { name: "note", type: "text" }] });
          else if (chunk !== undefined) ws.send(Buffer.concat([encodeChunkHeader({ id, seq, rows: chunk.split("\n").length - 1 }), Buffer.from(chunk)]));
          else if (this.#script.failWith !== undefined) send({ type: "error", id, seq, code: this.#script.failWith, message: "failed" });
          else send({ type: "end", id, seq, rows: this.#script.chunks.join("").split("\n").length - 1, chunks: seq - 1, bytes: 0 });
        }
      };
      ws.on("message", (data) => {
        const parsed = parseClientMessage(data.toString());
        if (!parsed.ok) throw new Error(parsed.reason);
        const message = parsed.value;
        if (message.type === "hello") send({ type: "welcome", v: PROTOCOL_VERSION, session: "s", window: this.#script.window });
        if (message.type === "query") id = message.id;
        if (message.type === "ack") {
          this.acks.push(message.seq);
          this.onAck(message.seq);
          acked = message.seq;
        }
        pump();
      });
    });
  }

  async url(): Promise<string> {
    if (!this.#wss.address()) await new Promise((resolve) => this.#wss.once("listening", resolve));
    const address = this.#wss.address();
    if (typeof address !== "object" || address === null) throw new Error("not listening");
    return `ws://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise((resolve) => this.#wss.close(resolve));
  }
}

class Sink extends Writable {
  text = "";
  written = 0;
  readonly #delayMs: number;

  constructor(delayMs = 0) {
    super({ highWaterMark: 1 });
    this.#delayMs = delayMs;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    const take = (): void => {
      this.text += chunk.toString();
      this.written++;
      callback();
    };
    if (this.#delayMs === 0) take();
    else setTimeout(take, this.#delayMs);
  }
}

const CHUNKS = ['1,hello\n2,\n', '3,""\n4,"a,b"\n', '5,"line\nbreak"\n'];
const CSV = `id,note\n${CHUNKS.join("")}`;

let server: TinyServer | undefined;
let dir = "";

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-export-"));
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function setup(script: Script, stdout = new Sink()): Promise<{ options: ExportOptions; io: ExportIo & { stdout: Sink; stderr: Sink } }> {
  server = new TinyServer(script);
  const options: ExportOptions = { dataset: "d", params: {}, url: await server.url(), token: "t", format: "csv", quiet: true };
  return { options, io: { stdout, stderr: new Sink(), WebSocket } };
}

describe("exportCommand", () => {
  it("export - writes the CSV header, then the chunk bytes verbatim, to stdout", async () => {
    const { options, io } = await setup({ chunks: CHUNKS, window: 2 });
    const summary = await exportCommand(options, io);
    expect(io.stdout.text).toBe(CSV);
    expect(summary.rows).toBe(6);
    expect(summary.bytes).toBe(Buffer.byteLength(CSV));
    expect(io.stderr.text).toBe("");
  });

  it("export - --out renames the finished file into place and leaves nothing else", async () => {
    const { options, io } = await setup({ chunks: CHUNKS, window: 2 });
    const out = join(dir, "out.csv");
    await exportCommand({ ...options, out, quiet: false }, io);
    expect(await readFile(out, "utf8")).toBe(CSV);
    expect(await readdir(dir)).toEqual(["out.csv"]);
    expect(io.stderr.text).toMatch(/^sluice: 6 rows, 0\.0 MB in \d+\.\d s\n$/);
  });

  it("export - a failed query rejects with its code and leaves no file behind", async () => {
    const { options, io } = await setup({ chunks: CHUNKS, failWith: "QUERY_FAILED", window: 2 });
    const out = join(dir, "out.csv");
    const error: unknown = await exportCommand({ ...options, out }, io).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SluiceError);
    expect((error as SluiceError).code).toBe("QUERY_FAILED");
    expect(await readdir(dir)).toEqual([]);
  });

  it("export - a failed query leaves an existing file untouched", async () => {
    const { options, io } = await setup({ chunks: CHUNKS, failWith: "QUERY_TIMEOUT", window: 2 });
    const out = join(dir, "out.csv");
    await writeFile(out, "previous\n");
    await expect(exportCommand({ ...options, out }, io)).rejects.toMatchObject({ code: "QUERY_TIMEOUT" });
    expect(await readFile(out, "utf8")).toBe("previous\n");
    expect(await readdir(dir)).toEqual(["out.csv"]);
  });

  it("export - a chunk is acked only after the destination has taken it", async () => {
    const sink = new Sink(15);
    const chunks = Array.from({ length: 8 }, (_, i) => `${i}\n`);
    const { options, io } = await setup({ chunks, window: 2 }, sink);
    const early: string[] = [];
    // sink.written counts the header too, so chunk `seq` is on the sink once written > seq.
    if (server) {
      server.onAck = (seq) => {
        if (seq >= 1 && seq <= chunks.length && sink.written < seq + 1) early.push(`ack ${seq} after ${sink.written} writes`);
      };
    }
    await exportCommand(options, io);
    expect(early).toEqual([]);
    for (let i = 0; i < 100 && server?.acks.length !== 10; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server?.acks).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sink.text).toBe(`id,note\n${chunks.join("")}`);
  });
});
