import {
  SluiceError,
  requestIdSchema,
  type Ack,
  type Cancel,
  type Chunk,
  type Format,
  type ParamValue,
  type ServerMessage,
  type Welcome,
} from "@sluice/protocol";
import { QueryStream, type QueryLink } from "./query-stream.js";
import type { Socket, SocketHandler } from "./socket.js";

type SessionState = "open" | "closed";

/**
 * A server session and the requests running in it. Kept apart from the socket it currently uses,
 * so that a later version can move the session to a new socket and resume its requests.
 */
export class Session implements SocketHandler, QueryLink {
  /** Session id the server assigned in its welcome. */
  readonly id: string;
  /** Frames the server sends ahead of acks, per request. */
  readonly window: number;

  readonly #socket: Socket;
  readonly #queries = new Map<string, QueryStream>();
  #state: SessionState = "open";
  #nextId = 1;
  /** The last error frame without an id; it usually explains why the server then closes. */
  #serverError: SluiceError | undefined;
  #closeError: SluiceError | undefined;

  constructor(welcome: Welcome, socket: Socket) {
    this.id = welcome.session;
    this.window = welcome.window;
    this.#socket = socket;
    socket.attach(this);
  }

  get state(): SessionState {
    return this.#state;
  }

  /** Sends a query; throws RangeError for a malformed id and DUPLICATE_REQUEST for one in use. */
  query<F extends Format>(dataset: string, params: Record<string, ParamValue>, format: F, id?: string): QueryStream<F> {
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
    this.#socket.send({ type: "query", id: requestId, dataset, params, format });
    return query;
  }

  /** Closes the socket; requests still running fail with SERVICE_UNAVAILABLE. */
  close(): void {
    this.#socket.close();
  }

  send(message: Ack | Cancel): void {
    this.#socket.send(message);
  }

  release(query: QueryStream): void {
    if (this.#queries.get(query.id) === query) this.#queries.delete(query.id);
  }

  onOpen(): void {
    // The session starts on a socket that is already open.
  }

  onMessage(message: ServerMessage): void {
    switch (message.type) {
      case "meta":
        this.#queries.get(message.id)?.handleMeta(message);
        return;
      case "end":
        this.#queries.get(message.id)?.handleEnd(message);
        return;
      case "error":
        if (message.id === undefined) this.#serverError = new SluiceError(message.code, message.message);
        else this.#queries.get(message.id)?.handleError(message);
        return;
      case "welcome":
        return;
      default: {
        const unknown: never = message;
        throw new Error(`unknown message ${JSON.stringify(unknown)}`);
      }
    }
  }

  onChunk(chunk: Chunk): void {
    this.#queries.get(chunk.id)?.handleChunk(chunk);
  }

  onClose(error: SluiceError): void {
    this.#state = "closed";
    const server = this.#serverError;
    this.#closeError = server
      ? new SluiceError("SERVICE_UNAVAILABLE", `${error.message} after ${server.code}: ${server.message}`, { cause: server })
      : error;
    const running = [...this.#queries.values()];
    this.#queries.clear();
    for (const query of running) query.handleConnectionLost(this.#closeError);
  }

  #generateId(): string {
    for (;;) {
      const id = `q${this.#nextId++}`;
      if (!this.#queries.has(id)) return id;
    }
  }
}
