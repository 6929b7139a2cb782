import { PROTOCOL_VERSION, SluiceError, type Hello, type ServerMessage, type Welcome } from "@sluice/protocol";
import type { Socket, SocketHandler } from "./socket.js";

type HandshakeState = "opening" | "greeting" | "done";

/**
 * Handles a socket from its opening to the server's welcome: sends hello once the socket is
 * open and settles with the welcome, the server's error, or the socket's close.
 */
export class Handshake implements SocketHandler {
  readonly #token: string;
  readonly #resume: Hello["resume"];
  #state: HandshakeState = "opening";
  #socket: Socket | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolve: (welcome: Welcome) => void = () => undefined;
  #reject: (error: SluiceError) => void = () => undefined;

  readonly #adopt: ((socket: Socket) => void) | undefined;

  /**
   * `adopt` takes the socket over synchronously on welcome, so frames the server sends right
   * behind its welcome (a resumed request's) reach their new handler.
   */
  constructor(token: string, resume?: Hello["resume"], adopt?: (socket: Socket) => void) {
    this.#token = token;
    this.#resume = resume;
    this.#adopt = adopt;
  }

  /** Waits for the welcome on `socket` (which must have this handshake as its handler). */
  run(socket: Socket, timeoutMs: number): Promise<Welcome> {
    this.#socket = socket;
    this.#timer = setTimeout(() => socket.close(`no welcome within ${timeoutMs} ms`), timeoutMs);
    return new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  onOpen(): void {
    this.#state = "greeting";
    this.#socket?.send({ type: "hello", v: PROTOCOL_VERSION, token: this.#token, ...(this.#resume ? { resume: this.#resume } : {}) });
  }

  onMessage(message: ServerMessage): void {
    if (this.#state !== "greeting") return;
    switch (message.type) {
      case "welcome":
        if (message.v === PROTOCOL_VERSION) {
          if (this.#socket) {
            if (message.heartbeat) this.#socket.expectFramesEvery(message.heartbeat);
            this.#adopt?.(this.#socket);
          }
          this.#settle(message);
        }
        else this.#fail(new SluiceError("UNSUPPORTED_VERSION", `The server speaks protocol version ${message.v}`));
        return;
      case "error":
        // The server closes the socket itself after a handshake error.
        this.#settle(new SluiceError(message.code, message.message));
        return;
      case "heartbeat":
        return;
      case "meta":
      case "end":
      case "refreshed":
        this.#fail(new SluiceError("SERVICE_UNAVAILABLE", `The server sent ${message.type} before welcome`));
        return;
      default: {
        const unknown: never = message;
        throw new Error(`unknown message ${JSON.stringify(unknown)}`);
      }
    }
  }

  onChunk(): void {
    if (this.#state === "greeting") this.#fail(new SluiceError("SERVICE_UNAVAILABLE", "The server sent a chunk before welcome"));
  }

  onClose(error: SluiceError): void {
    this.#settle(error);
  }

  #fail(error: SluiceError): void {
    this.#settle(error);
    this.#socket?.close(error.message);
  }

  #settle(outcome: Welcome | SluiceError): void {
    if (this.#state === "done") return;
    this.#state = "done";
    clearTimeout(this.#timer);
    if (outcome instanceof SluiceError) this.#reject(outcome);
    else this.#resolve(outcome);
  }
}
