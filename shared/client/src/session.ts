import {
  SluiceError,
  requestIdSchema,
  type Ack,
  type Cancel,
  type Chunk,
  type ClientMessage,
  type Format,
  type Hello,
  type ParamValue,
  type ServerMessage,
  type Welcome,
} from "@sluice/protocol";
import { QueryStream, type QueryLink } from "./query-stream.js";
import type { Socket, SocketHandler } from "./socket.js";

type QueryMessage = Extract<ClientMessage, { type: "query" }>;

/** open: a socket is welcomed. reconnecting: the socket was lost, a new one is being tried. closed: for good. */
export type ConnectionState = "open" | "reconnecting" | "closed";

/** A change of the connection, as `SluiceClient.onConnection` reports it. */
export type ConnectionEvent =
  /** The socket was lost (`error` says how); running requests wait while a new one is tried. */
  | { readonly type: "reconnecting"; readonly error: SluiceError }
  /** A new socket took the session over; running requests continue where the app left off. */
  | { readonly type: "resumed" }
  /** The connection ended for good: closed by the app, or lost and not resumed (`error`). */
  | { readonly type: "closed"; readonly error: SluiceError };

export type ConnectionListener = (event: ConnectionEvent) => void;

/** Opens a new socket and says hello, resuming a session when asked to. */
export type Connector = (
  resume: Hello["resume"],
  adopt: ((socket: Socket) => void) | undefined,
) => Promise<{ socket: Socket; welcome: Welcome }>;

export interface SessionOptions {
  readonly reconnect: Connector;
  /** How long to keep trying after the socket is lost; 0 never reconnects. */
  readonly reconnectTimeoutMs: number;
  /** Sends a new token `beforeMs` before the current one expires; absent: the token is never renewed. */
  readonly refresh?: { readonly getToken: () => Promise<string>; readonly beforeMs: number };
}

/** setTimeout's longest delay; a refresh further away is scheduled again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Codes after which trying again cannot help. */
const FINAL_CODES = new Set(["AUTH_INVALID", "AUTH_EXPIRED", "RESUME_FAILED", "UNSUPPORTED_VERSION", "HELLO_REQUIRED"]);
const FIRST_RETRY_MS = 100;
const LAST_RETRY_MS = 2_000;

/**
 * A server session and the requests running in it. Kept apart from the socket it currently uses,
 * so that a later version can move the session to a new socket and resume its requests.
 */
export class Session implements SocketHandler, QueryLink {
  /** Session id the server assigned in its welcome. */
  readonly id: string;
  /** Frames the server sends ahead of acks, per request. */
  readonly window: number;

  #socket: Socket;
  readonly #options: SessionOptions | undefined;
  readonly #queries = new Map<string, QueryStream>();
  /** Per request, the highest seq received: frames sent again after a resume are dropped. */
  readonly #received = new Map<string, number>();
  /** Per request, the highest seq the app has consumed (acked or about to be). */
  readonly #consumed = new Map<string, number>();
  /** Queries sent that have had no frame yet, as sent: one an edge had queued may need sending again. */
  readonly #unanswered = new Map<string, QueryMessage>();
  /** Queries and cancels waiting for the socket to come back. */
  #pending: ClientMessage[] = [];
  #state: ConnectionState = "open";
  readonly #listeners = new Set<ConnectionListener>();
  #nextId = 1;
  /** The last error frame without an id; it usually explains why the server then closes. */
  #serverError: SluiceError | undefined;
  #closeError: SluiceError | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(welcome: Welcome, socket: Socket, options?: SessionOptions) {
    this.id = welcome.session;
    this.window = welcome.window;
    this.#socket = socket;
    this.#options = options;
    socket.attach(this);
    this.#scheduleRefresh(welcome.expires);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Calls `listener` on every change of the connection; returns a function that stops it. */
  onConnection(listener: ConnectionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends a query; throws RangeError for a malformed id and DUPLICATE_REQUEST for one in use. */
  query<F extends Format>(dataset: string, params: Record<string, ParamValue>, format: F, id?: string, traceparent?: string): QueryStream<F> {
    const requestId = id ?? this.#generateId();
    if (!requestIdSchema.safeParse(requestId).success) {
      throw new RangeError(`request id "${requestId}" is not 1-64 characters of A-Z a-z 0-9 _ -`);
    }
    if (this.#queries.has(requestId)) {
      throw new SluiceError("DUPLICATE_REQUEST", `A request with id "${requestId}" is already running on this session`);
    }
    const query = new QueryStream(requestId, format, this);
    if (this.#closeError !== undefined) {
      query.handleConnectionLost(this.#closeError);
      return query;
    }
    this.#queries.set(requestId, query);
    const message: QueryMessage = { type: "query", id: requestId, dataset, params, format, ...(traceparent ? { traceparent } : {}) };
    this.#unanswered.set(requestId, message);
    this.#deliver(message);
    return query;
  }

  /** Closes the socket; requests still running fail with SERVICE_UNAVAILABLE. */
  close(): void {
    clearTimeout(this.#refreshTimer);
    if (this.#state === "reconnecting") {
      this.#fail(new SluiceError("SERVICE_UNAVAILABLE", "The connection closed: closed by the client"));
      return;
    }
    this.#state = "closed";
    this.#socket.close();
  }

  /**
   * Sends a new token before the socket's expires (epoch seconds). Should that fail, the edge
   * closes the socket at expiry with AUTH_EXPIRED and the session reconnects with a new token.
   */
  #scheduleRefresh(expires: number | undefined): void {
    clearTimeout(this.#refreshTimer);
    const refresh = this.#options?.refresh;
    if (!refresh || expires === undefined || this.#state === "closed") return;
    const left = expires * 1000 - refresh.beforeMs - Date.now();
    this.#refreshTimer = setTimeout(() => {
      if (left > MAX_TIMER_MS) this.#scheduleRefresh(expires);
      else void this.#refresh(refresh.getToken);
    }, Math.max(0, Math.min(left, MAX_TIMER_MS)));
  }

  async #refresh(getToken: () => Promise<string>): Promise<void> {
    if (this.#state !== "open") return;
    try {
      const token = await getToken();
      if (this.#state === "open") this.#socket.send({ type: "refresh", token });
    } catch {
      // No new token now: the edge closes at expiry and the reconnect asks again.
    }
  }

  send(message: Ack | Cancel): void {
    if (message.type === "ack") this.#consumed.set(message.id, Math.max(message.seq, this.#consumed.get(message.id) ?? -1));
    // Acks made while reconnecting follow the resume: the edge counts them as consumed.
    this.#deliver(message);
  }

  #deliver(message: ClientMessage): void {
    if (this.#state === "reconnecting") this.#pending.push(message);
    else this.#socket.send(message);
  }

  release(query: QueryStream): void {
    if (this.#queries.get(query.id) !== query) return;
    this.#queries.delete(query.id);
    this.#received.delete(query.id);
    this.#consumed.delete(query.id);
    this.#unanswered.delete(query.id);
  }

  /**
   * A query that had no answer at all when its socket was lost, and that the new edge cannot
   * resume, never reached a worker (the old edge held it in the socket's queue): it is sent again.
   * True when it was.
   */
  #sendAgain(id: string): boolean {
    const message = this.#unanswered.get(id);
    if (message === undefined || this.#received.has(id)) return false;
    this.#deliver(message);
    return true;
  }

  /** True for a frame seen before the socket was lost; records the frame otherwise. */
  #seen(id: string, seq: number | undefined): boolean {
    this.#unanswered.delete(id);
    if (seq === undefined) return false;
    if (seq <= (this.#received.get(id) ?? -1)) return true;
    this.#received.set(id, seq);
    return false;
  }

  onOpen(): void {
    // The session starts on a socket that is already open.
  }

  onMessage(message: ServerMessage): void {
    switch (message.type) {
      case "meta":
        if (!this.#seen(message.id, message.seq)) this.#queries.get(message.id)?.handleMeta(message);
        return;
      case "end":
        if (!this.#seen(message.id, message.seq)) this.#queries.get(message.id)?.handleEnd(message);
        return;
      case "error":
        if (message.id === undefined) this.#serverError = new SluiceError(message.code, message.message);
        else if (message.code === "RESUME_FAILED" && this.#sendAgain(message.id)) return;
        else if (!this.#seen(message.id, message.seq)) this.#queries.get(message.id)?.handleError(message);
        return;
      case "refreshed":
        this.#scheduleRefresh(message.expires);
        return;
      case "welcome":
      case "heartbeat":
        return;
      default: {
        const unknown: never = message;
        throw new Error(`unknown message ${JSON.stringify(unknown)}`);
      }
    }
  }

  onChunk(chunk: Chunk): void {
    if (!this.#seen(chunk.id, chunk.seq)) this.#queries.get(chunk.id)?.handleChunk(chunk);
  }

  onClose(error: SluiceError): void {
    const server = this.#serverError;
    this.#serverError = undefined;
    const closeError = server
      ? new SluiceError("SERVICE_UNAVAILABLE", `${error.message} after ${server.code}: ${server.message}`, { cause: server })
      : error;
    clearTimeout(this.#refreshTimer);
    // The server said why it closes, or it spoke nonsense: a reconnect would meet the same fate,
    // unless the token merely expired and a new one can be had.
    const renewable = server?.code === "AUTH_EXPIRED" && this.#options?.refresh !== undefined;
    const final = (server !== undefined && !renewable) || (error.cause instanceof SluiceError && error.cause.code === "BAD_FRAME");
    if (this.#state === "open" && this.#options && this.#options.reconnectTimeoutMs > 0 && !final) {
      this.#state = "reconnecting";
      this.#emit({ type: "reconnecting", error: closeError });
      void this.#reconnect(this.#options, closeError);
      return;
    }
    this.#fail(closeError);
  }

  /** Reconnects with backoff and resumes every running request where the app left off. */
  async #reconnect(options: SessionOptions, lost: SluiceError): Promise<void> {
    const deadline = Date.now() + options.reconnectTimeoutMs;
    for (let delay = FIRST_RETRY_MS; this.#state === "reconnecting"; delay = Math.min(delay * 2, LAST_RETRY_MS)) {
      const pendingIds = new Set(this.#pending.flatMap((m) => (m.type === "query" ? [m.id] : [])));
      const requests = [...this.#queries.keys()]
        .filter((id) => !pendingIds.has(id))
        .map((id) => ({ id, next: (this.#consumed.get(id) ?? -1) + 1 }));
      try {
        const { welcome } = await options.reconnect({ session: this.id, requests }, (socket) => this.#adopt(socket));
        if ((this.#state as ConnectionState) === "open") {
          this.#scheduleRefresh(welcome.expires);
          return;
        }
      } catch (error) {
        const code = error instanceof SluiceError ? error.code : "SERVICE_UNAVAILABLE";
        if (FINAL_CODES.has(code) || Date.now() + delay > deadline) {
          this.#fail(error instanceof SluiceError && FINAL_CODES.has(code) ? error : lost);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, delay * (0.75 + Math.random() / 2)));
      }
    }
  }

  /** Moves the session to a socket that has just been welcomed back. */
  #adopt(socket: Socket): void {
    if (this.#state !== "reconnecting") {
      socket.close();
      return;
    }
    this.#socket = socket;
    this.#state = "open";
    socket.attach(this);
    for (const message of this.#pending.splice(0)) socket.send(message);
    this.#emit({ type: "resumed" });
  }

  #fail(error: SluiceError): void {
    if (this.#closeError !== undefined) return;
    clearTimeout(this.#refreshTimer);
    this.#state = "closed";
    this.#closeError = error;
    this.#pending = [];
    const running = [...this.#queries.values()];
    this.#queries.clear();
    for (const query of running) query.handleConnectionLost(error);
    this.#emit({ type: "closed", error });
  }

  /** A listener that throws must not break the session: its error is rethrown on its own. */
  #emit(event: ConnectionEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  #generateId(): string {
    for (;;) {
      const id = `q${this.#nextId++}`;
      if (!this.#queries.has(id)) return id;
    }
  }
}
