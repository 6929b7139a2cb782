import { type Format, type ParamValue } from "@sluice/protocol";
import { Handshake } from "./handshake.js";
import type { QueryStream } from "./query-stream.js";
import { Session, type ConnectionListener, type ConnectionState, type Connector } from "./session.js";
import { Socket, type WebSocketConstructor } from "./socket.js";

export interface ConnectOptions {
  /** Websocket URL of an edge, e.g. "ws://localhost:8080"; several are tried in turn on reconnect. */
  url: string | readonly string[];
  /** A JWT the edge accepts. Give this or `getToken`. */
  token?: string;
  /**
   * Returns a current JWT; called for every connect and reconnect, and shortly before the
   * socket's token expires (the new token must name the same tenant and subject).
   */
  getToken?: () => string | Promise<string>;
  /** With `getToken`: how long before the token's expiry a new one is sent. Default 30 000 ms. */
  refreshBeforeMs?: number;
  /** WebSocket constructor. Default globalThis.WebSocket; Node 20 has none, so pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** Time allowed to open the socket and receive the welcome. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /**
   * How long to keep reconnecting after a lost connection, resuming every running request where
   * its app left off. Default 60 000 ms (the edges' default grace period); 0 disables.
   */
  reconnectTimeoutMs?: number;
}

export interface QueryOptions<F extends Format = "csv"> {
  /** Payload format. Default "csv". */
  format?: F;
  /** Request id, 1-64 characters of A-Z a-z 0-9 _ -. Default: generated, unique in this client. */
  id?: string;
  /** W3C `traceparent` of the caller's span: the request's logs on edge and worker carry its trace id. */
  traceparent?: string;
}

/** Default connect options; a fresh object each call. */
export function connectDefaults(): { connectTimeoutMs: number; reconnectTimeoutMs: number; refreshBeforeMs: number } {
  return { connectTimeoutMs: 10_000, reconnectTimeoutMs: 60_000, refreshBeforeMs: 30_000 };
}

/**
 * Opens a socket, says hello and resolves once the server welcomes the client. Rejects with a
 * SluiceError carrying the server's code (AUTH_INVALID, …) or SERVICE_UNAVAILABLE. A malformed
 * URL throws the WebSocket constructor's own error (a SyntaxError).
 */
export async function connect(options: ConnectOptions): Promise<SluiceClient> {
  const defaults = connectDefaults();
  const connectTimeoutMs = options.connectTimeoutMs ?? defaults.connectTimeoutMs;
  const WebSocket = options.WebSocket ?? globalWebSocket();
  const urls = typeof options.url === "string" ? [options.url] : [...options.url];
  if (urls.length === 0) throw new TypeError("connect() needs at least one url");
  const { token, getToken } = options;
  if (token === undefined && getToken === undefined) throw new TypeError("connect() needs a token or getToken");
  const currentToken = async (): Promise<string> => (getToken ? await getToken() : (token ?? ""));
  let attempt = 0;
  const open: Connector = async (resume, adopt) => {
    const url = urls[attempt++ % urls.length] as string;
    const handshake = new Handshake(await currentToken(), resume, adopt);
    const socket = new Socket(new WebSocket(url), handshake);
    return { socket, welcome: await handshake.run(socket, connectTimeoutMs) };
  };
  const { socket, welcome } = await open(undefined, undefined);
  const session = new Session(welcome, socket, {
    reconnect: open,
    reconnectTimeoutMs: options.reconnectTimeoutMs ?? defaults.reconnectTimeoutMs,
    ...(getToken ? { refresh: { getToken: currentToken, beforeMs: options.refreshBeforeMs ?? defaults.refreshBeforeMs } } : {}),
  });
  return new SluiceClient(session);
}

/** A connection to a Sluice edge, running any number of queries at once. */
export class SluiceClient {
  readonly #session: Session;

  constructor(session: Session) {
    this.#session = session;
  }

  /** Session id the server assigned. */
  get session(): string {
    return this.#session.id;
  }

  /** Frames the server sends ahead of acks, per request. */
  get window(): number {
    return this.#session.window;
  }

  /** False while reconnecting and once the connection has closed for good. */
  get connected(): boolean {
    return this.#session.state === "open";
  }

  /** "open", "reconnecting" (after a lost socket, for up to `reconnectTimeoutMs`) or "closed". */
  get state(): ConnectionState {
    return this.#session.state;
  }

  /**
   * Calls `listener` on each change of the connection: "reconnecting" when the socket is lost,
   * "resumed" when a new one has taken the session over, "closed" once it has ended for good.
   * Returns a function that removes the listener.
   */
  onConnection(listener: ConnectionListener): () => void {
    return this.#session.onConnection(listener);
  }

  /**
   * Starts a query and returns its stream at once; read it by iterating (chunks) or `rows()`.
   * Throws RangeError for a malformed id, SluiceError DUPLICATE_REQUEST for an id in use.
   */
  query<F extends Format = "csv">(
    dataset: string,
    params: Record<string, ParamValue> = {},
    options: QueryOptions<F> = {},
  ): QueryStream<F> {
    const format = (options.format ?? "csv") as F;
    return this.#session.query(dataset, params, format, options.id, options.traceparent);
  }

  /** Closes the connection; queries still running fail with SERVICE_UNAVAILABLE. */
  close(): void {
    this.#session.close();
  }
}

function globalWebSocket(): WebSocketConstructor {
  const WebSocket = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (WebSocket === undefined) {
    throw new TypeError("this runtime has no global WebSocket: pass options.WebSocket (e.g. the ws package's)");
  }
  return WebSocket;
}
