import { WebSocketServer, type WebSocket } from "ws";
import {
  PROTOCOL_VERSION,
  encodeChunkHeader,
  encodeMessage,
  parseClientMessage,
  type ClientMessage,
  type Column,
  type ErrorCode,
  type Format,
  type ServerMessage,
} from "@sluice/protocol";

/** What the fake server answers for one dataset. */
export interface FakeDataset {
  columns?: Column[];
  /** Chunk payloads, sent as seq 1..N. */
  chunks: string[];
  /** Send this error (with seq N+1) instead of end. */
  failWith?: ErrorCode;
  /** Send this error without seq (the server's last word, like the edge's own failures) instead of end. */
  abortWith?: ErrorCode;
  /** Answer the query with this error, without seq, before meta. */
  rejectWith?: ErrorCode;
}

export interface FakeServerOptions {
  window?: number;
  /** Answer cancel with an error that carries a seq (and so wants acks). Default false, like the edge. */
  cancelWithSeq?: boolean;
  /** The only token accepted. Default "good". */
  token?: string;
  /** Session id of every welcome. Default "s1"; a hello that resumes needs 48 hex digits. */
  session?: string;
  datasets: Record<string, FakeDataset>;
}

export interface LogEntry {
  dir: "in" | "out";
  type: string;
  id: string | undefined;
  seq?: number;
}

interface Request {
  readonly id: string;
  readonly dataset: FakeDataset;
  readonly format: Format;
  /** Next seq to send. */
  next: number;
  /** Highest seq acked; -1 before any. */
  acked: number;
  /** Seq of the end or error frame once sent. */
  final: number | undefined;
  cancelled: boolean;
}

/**
 * A small server that speaks the Sluice protocol with per-request windows, records every frame in
 * and out, and notes protocol violations by the client (acks out of order, unknown ids, …).
 */
export class FakeServer {
  readonly log: LogEntry[] = [];
  /** Every parsed client message, in arrival order. */
  readonly messages: ClientMessage[] = [];
  readonly violations: string[] = [];
  readonly #wss: WebSocketServer;
  readonly #options: Required<FakeServerOptions>;
  readonly #sockets = new Set<WebSocket>();
  /** Highest ack per request id, kept after the request is gone. */
  readonly #acked = new Map<string, number>();
  readonly #sent = new Map<string, number>();

  private constructor(wss: WebSocketServer, options: FakeServerOptions) {
    this.#wss = wss;
    this.#options = { window: 8, token: "good", session: "s1", cancelWithSeq: false, ...options };
    wss.on("connection", (ws) => this.#onConnection(ws));
  }

  static async start(options: FakeServerOptions): Promise<FakeServer> {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise<void>((resolve) => wss.once("listening", resolve));
    return new FakeServer(wss, options);
  }

  get url(): string {
    const address = this.#wss.address();
    if (typeof address !== "object" || address === null) throw new Error("the server is not listening");
    return `ws://127.0.0.1:${address.port}`;
  }

  acked(id: string): number {
    return this.#acked.get(id) ?? -1;
  }

  sent(id: string): number {
    return this.#sent.get(id) ?? -1;
  }

  /** Client messages of one type, in arrival order. */
  received(type: string, id?: string): LogEntry[] {
    return this.log.filter((e) => e.dir === "in" && e.type === type && (id === undefined || e.id === id));
  }

  /** Drops every connection without a closing handshake. */
  dropConnections(): void {
    for (const ws of this.#sockets) ws.terminate();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve, reject) => this.#wss.close((error) => (error ? reject(error) : resolve())));
  }

  #onConnection(ws: WebSocket): void {
    this.#sockets.add(ws);
    ws.on("close", () => this.#sockets.delete(ws));
    const requests = new Map<string, Request>();
    let greeted = false;
    ws.on("message", (data, isBinary) => {
      const parsed = isBinary ? ({ ok: false, reason: "binary frame" } as const) : parseClientMessage(data.toString());
      if (!parsed.ok) {
        this.violations.push(`bad frame: ${parsed.reason}`);
        return;
      }
      const message = parsed.value;
      this.messages.push(message);
      this.log.push({ dir: "in", type: message.type, id: "id" in message ? message.id : undefined, ...("seq" in message ? { seq: message.seq } : {}) });
      if (message.type === "hello") {
        greeted = this.#hello(ws, message.token);
        return;
      }
      if (!greeted) {
        this.violations.push(`${message.type} before hello`);
        return;
      }
      switch (message.type) {
        case "query":
          return this.#query(ws, requests, message.id, message.dataset, message.format);
        case "ack":
          return this.#ack(ws, requests, message.id, message.seq);
        case "cancel":
          return this.#cancel(ws, requests, message.id);
      }
    });
  }

  #hello(ws: WebSocket, token: string): boolean {
    if (token !== this.#options.token) {
      this.#send(ws, { type: "error", code: "AUTH_INVALID", message: "The token is invalid" });
      ws.close(4401, "AUTH_INVALID");
      return false;
    }
    this.#send(ws, { type: "welcome", v: PROTOCOL_VERSION, session: this.#options.session, window: this.#options.window });
    return true;
  }

  #query(ws: WebSocket, requests: Map<string, Request>, id: string, name: string, format: Format): void {
    const dataset = this.#options.datasets[name];
    if (dataset === undefined || dataset.rejectWith !== undefined) {
      this.#send(ws, { type: "error", id, code: dataset?.rejectWith ?? "UNKNOWN_DATASET", message: "rejected" });
      return;
    }
    const request: Request = { id, dataset, format, next: 0, acked: -1, final: undefined, cancelled: false };
    requests.set(id, request);
    this.#pump(ws, requests, request);
  }

  #ack(ws: WebSocket, requests: Map<string, Request>, id: string, seq: number): void {
    this.#acked.set(id, Math.max(seq, this.acked(id)));
    const request = requests.get(id);
    if (request === undefined) {
      this.violations.push(`ack ${id}/${seq} for no request`);
      return;
    }
    if (seq !== request.acked + 1) this.violations.push(`ack ${id}/${seq} after ${request.acked}`);
    if (seq >= request.next) this.violations.push(`ack ${id}/${seq} for a frame not sent`);
    request.acked = seq;
    if (request.final !== undefined && seq >= request.final) requests.delete(id);
    else this.#pump(ws, requests, request);
  }

  #cancel(ws: WebSocket, requests: Map<string, Request>, id: string): void {
    const request = requests.get(id);
    if (request === undefined || request.final !== undefined) return;
    request.cancelled = true;
    if (this.#options.cancelWithSeq) {
      request.final = request.next++;
      this.#send(ws, { type: "error", id, seq: request.final, code: "CANCELLED", message: "The request was cancelled" });
    } else {
      requests.delete(id);
      this.#send(ws, { type: "error", id, code: "CANCELLED", message: "The request was cancelled" });
    }
  }

  /** Sends frames while fewer than `window` are unacked. */
  #pump(ws: WebSocket, requests: Map<string, Request>, request: Request): void {
    const { chunks } = request.dataset;
    while (request.final === undefined && request.next - (request.acked + 1) < this.#options.window) {
      const seq = request.next++;
      if (seq === 0) {
        const columns = request.dataset.columns ?? [{ name: "n", type: "int4" }];
        this.#send(ws, { type: "meta", id: request.id, seq: 0, format: request.format, columns });
      } else if (seq <= chunks.length) {
        this.#sendChunk(ws, request.id, seq, chunks[seq - 1] ?? "");
      } else {
        request.final = seq;
        this.#sendFinal(ws, requests, request, seq);
      }
    }
  }

  #sendFinal(ws: WebSocket, requests: Map<string, Request>, request: Request, seq: number): void {
    const { chunks, failWith, abortWith } = request.dataset;
    if (abortWith !== undefined) {
      requests.delete(request.id);
      request.next--;
      this.#send(ws, { type: "error", id: request.id, code: abortWith, message: "aborted" });
      return;
    }
    if (failWith !== undefined) {
      this.#send(ws, { type: "error", id: request.id, seq, code: failWith, message: "failed" });
      return;
    }
    const rows = chunks.reduce((n, c) => n + countLines(c), 0);
    const bytes = chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
    this.#send(ws, { type: "end", id: request.id, seq, rows, chunks: chunks.length, bytes });
  }

  #sendChunk(ws: WebSocket, id: string, seq: number, payload: string): void {
    const header = encodeChunkHeader({ id, seq, rows: countLines(payload) });
    ws.send(Buffer.concat([header, Buffer.from(payload)]), { binary: true });
    this.#sent.set(id, seq);
    this.log.push({ dir: "out", type: "chunk", id, seq });
  }

  #send(ws: WebSocket, message: ServerMessage): void {
    ws.send(encodeMessage(message));
    const id = "id" in message ? message.id : undefined;
    const seq = "seq" in message ? message.seq : undefined;
    if (id !== undefined && seq !== undefined) this.#sent.set(id, seq);
    this.log.push({ dir: "out", type: message.type, id, ...(seq === undefined ? {} : { seq }) });
  }
}

function countLines(payload: string): number {
  return payload.split("\n").length - 1;
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
export async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await delay(5);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
