import {
  SluiceError,
  decodeChunkFrame,
  encodeMessage,
  parseServerMessage,
  type Chunk,
  type ClientMessage,
  type ServerMessage,
} from "@sluice/protocol";

/** The fields of open, message, close and error events the client reads. */
export interface SocketEvent {
  readonly type: string;
  readonly data?: unknown;
  readonly code?: number;
  readonly reason?: string;
}

/**
 * The part of the browser WebSocket interface the client uses. The `ws` package's WebSocket
 * implements it too, so Node (which has no global WebSocket before v22) passes that one.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "message" | "close" | "error", listener: { handleEvent(event: SocketEvent): void }): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Receives what arrives on a socket, already parsed. Swapped from handshake to session. */
export interface SocketHandler {
  onOpen(): void;
  onMessage(message: ServerMessage): void;
  onChunk(chunk: Chunk): void;
  /** Called once, when the socket closes for any reason; `error` says why. */
  onClose(error: SluiceError): void;
}

type SocketState = "connecting" | "open" | "closed";

const OPEN = 1;
const CLOSE_NORMAL = 1000;

/**
 * One websocket: parses every frame once, where it enters, and reports the socket's end exactly
 * once. Knows nothing of queries, so a session can outlive it and move to a new socket.
 */
export class Socket {
  readonly #ws: WebSocketLike;
  #state: SocketState = "connecting";
  #handler: SocketHandler;
  #lastError: unknown;
  #lastFrameAt = 0;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(ws: WebSocketLike, handler: SocketHandler) {
    this.#ws = ws;
    this.#handler = handler;
    ws.binaryType = "arraybuffer";
    for (const type of ["open", "message", "close", "error"] as const) ws.addEventListener(type, this);
  }

  get state(): SocketState {
    return this.#state;
  }

  /** Routes everything that arrives from now on to `handler`. */
  attach(handler: SocketHandler): void {
    this.#handler = handler;
  }

  /**
   * The server promised a frame at least every `intervalMs`: after twice that without one, the link
   * is taken for dead and the socket closed (a link that dies silently never fires a close event).
   */
  expectFramesEvery(intervalMs: number): void {
    clearInterval(this.#watchdog);
    this.#lastFrameAt = Date.now();
    const silence = 2 * intervalMs;
    this.#watchdog = setInterval(() => {
      if (Date.now() - this.#lastFrameAt > silence) this.close(`nothing from the server for ${silence} ms`);
    }, Math.max(50, intervalMs / 4));
    // A timer must not keep a Node process alive on its own.
    (this.#watchdog as { unref?: () => void }).unref?.();
  }

  /** Sends a message; dropped when the socket is no longer open (its close fails the requests). */
  send(message: ClientMessage): void {
    if (this.#state === "open" && this.#ws.readyState === OPEN) this.#ws.send(encodeMessage(message));
  }

  /**
   * Closes the socket; the handler hears of it at once (with `reason`), not after the closing
   * handshake. Always code 1000 without a reason on the wire: browsers refuse other client
   * codes below 3000 and reasons over 123 bytes.
   */
  close(reason = "closed by the client"): void {
    if (this.#state === "closed") return;
    this.#ws.close(CLOSE_NORMAL);
    this.#finish(new SluiceError("SERVICE_UNAVAILABLE", `The connection closed: ${reason}`, { cause: this.#lastError }));
  }

  /** EventListener entry point: one object listens to all four events. */
  handleEvent(event: SocketEvent): void {
    switch (event.type) {
      case "open":
        if (this.#state !== "connecting") return;
        this.#state = "open";
        this.#handler.onOpen();
        return;
      case "message":
        this.#onData(event.data);
        return;
      case "close":
        this.#onCloseEvent(event);
        return;
      case "error":
        this.#lastError = event;
        return;
    }
  }

  #onData(data: unknown): void {
    if (this.#state !== "open") return;
    this.#lastFrameAt = Date.now();
    if (typeof data === "string") {
      const parsed = parseServerMessage(data);
      if (parsed.ok) this.#handler.onMessage(parsed.value);
      else this.#protocolError(`bad text frame (${parsed.reason})`);
      return;
    }
    const bytes = toBytes(data);
    const chunk = bytes && decodeChunkFrame(bytes);
    if (chunk) this.#handler.onChunk(chunk);
    else this.#protocolError("bad binary frame");
  }

  #protocolError(reason: string): void {
    this.#lastError = new SluiceError("BAD_FRAME", `the server sent a ${reason}`);
    this.close(`the server sent a ${reason}`);
  }

  #onCloseEvent(event: SocketEvent): void {
    const why = event.reason || errorText(this.#lastError);
    const detail = why ? `${event.code ?? "?"} ${why}` : `${event.code ?? "?"}`;
    this.#finish(new SluiceError("SERVICE_UNAVAILABLE", `The connection closed (${detail})`, { cause: this.#lastError }));
  }

  #finish(error: SluiceError): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearInterval(this.#watchdog);
    this.#handler.onClose(error);
  }
}

/** Node's ws puts the cause (e.g. ECONNREFUSED) on its error event; browsers keep it secret. */
function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  const message = (error as { message?: unknown } | undefined)?.message;
  return typeof message === "string" ? message : "";
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}
