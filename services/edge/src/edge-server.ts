import { createServer, type IncomingMessage, type Server } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";
import type { Registry } from "prom-client";
import { handleOpsRequest } from "@sluice/runtime";
import { Session, type SessionDeps } from "./session.js";

export interface EdgeServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxFrameBytes: number;
}

type State = "new" | "listening" | "draining" | "closed";

/** The edge's HTTP server: websockets on any path, plus /healthz, /readyz and /metrics. */
export class EdgeServer {
  #state: State = "new";
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  /** Sessions whose socket closed and whose requests are still being released. */
  readonly #closing = new Set<Promise<void>>();

  constructor(
    private readonly deps: SessionDeps,
    registry: Registry,
    private readonly options: EdgeServerOptions,
  ) {
    this.#http = createServer((req, res) => {
      const health = { live: () => true, ready: () => this.ready };
      if (!handleOpsRequest(req, res, health, registry)) res.writeHead(426, { "content-type": "text/plain" }).end("websocket only\n");
    });
    this.#wss = new WebSocketServer({ server: this.#http, maxPayload: options.maxFrameBytes, perMessageDeflate: false });
    this.#wss.on("connection", (socket, request) => this.#accept(socket, request));
  }

  get ready(): boolean {
    return this.#state === "listening" && !this.deps.nc.isClosed();
  }

  /** The port actually listened on (useful with port 0). */
  get port(): number {
    const address = this.#http.address();
    return typeof address === "object" && address ? address.port : this.options.port;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#http.once("error", reject);
      this.#http.listen(this.options.port, this.options.host, () => resolve());
    });
    this.#state = "listening";
  }

  #accept(socket: WebSocket, request: IncomingMessage): void {
    if (this.#state !== "listening") {
      socket.close(1012, "restarting");
      return;
    }
    const session = new Session(this.deps, socket);
    this.deps.metrics.sockets.inc();
    const stopWatching = watchLiveness(socket, request, this.deps.heartbeatMs, () => session.heartbeat());
    socket.on("message", (data: Buffer, isBinary) => session.onFrame(data, isBinary));
    socket.on("error", () => socket.terminate());
    socket.on("close", (code: number) => {
      stopWatching();
      this.deps.metrics.sockets.dec();
      const closing = session.onClose(code);
      this.#closing.add(closing);
      void closing.finally(() => this.#closing.delete(closing));
    });
  }

  /** Stops accepting sockets, asks clients to reconnect elsewhere, and closes. */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "draining";
    const closed = [...this.#wss.clients].map((client) => closeSocket(client));
    await Promise.all(closed);
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
    await Promise.allSettled([...this.#closing]);
    await this.deps.registry.close();
    this.#state = "closed";
  }
}

/**
 * Every `intervalMs`: cuts the socket (close code 1006, so its session waits for a resume) when
 * nothing showed the link alive since the last beat, then pings it and calls `beat`. Alive means a
 * frame or pong came in (acks come with every chunk a reading client gets), or bytes queued for
 * the client drained: a slow link still draining data is not dead, though its pong waits behind
 * the data. Returns a function that stops watching.
 */
function watchLiveness(socket: WebSocket, request: IncomingMessage, intervalMs: number, beat: () => void): () => void {
  let heard = true;
  let queued = 0;
  const hear = () => (heard = true);
  socket.on("pong", hear);
  socket.on("message", hear);
  const timer = setInterval(() => {
    const drained = request.socket.writableLength < queued;
    if (!heard && !drained) {
      socket.terminate();
      return;
    }
    heard = false;
    socket.ping();
    beat();
    queued = request.socket.writableLength;
  }, intervalMs);
  return () => clearInterval(timer);
}

/** Time a client gets to complete the close handshake before its socket is cut. */
const CLOSE_HANDSHAKE_MS = 5_000;

/** Asks a client to reconnect elsewhere (1012: service restart); resolves once the socket closed. */
function closeSocket(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.terminate(), CLOSE_HANDSHAKE_MS);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close(1012, "edge shutting down");
  });
}
