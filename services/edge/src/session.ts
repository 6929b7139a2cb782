import { randomBytes } from "node:crypto";
import type { WebSocket } from "ws";
import { bindParams, type SluiceConfig } from "@sluice/config";
import { requestKey, type RequestMessage } from "@sluice/broker";
import {
  ERROR_CODES,
  PROTOCOL_VERSION,
  SluiceError,
  encodeMessage,
  parseClientMessage,
  type ClientMessage,
  type ErrorCode,
  type ServerMessage,
} from "@sluice/protocol";
import type { Authenticator, Identity } from "./auth.js";
import { Relay, type ClientSink, type RelayDeps } from "./relay.js";

export interface SessionDeps extends RelayDeps {
  readonly config: SluiceConfig;
  readonly authenticator: Authenticator;
  readonly helloTimeoutMs: number;
}

type State = "awaiting-hello" | "authenticating" | "open" | "closed";

/** Session ids are 128 random bits: unguessable, and safe as a NATS subject token. */
function newSessionId(): string {
  return randomBytes(16).toString("hex");
}

/**
 * One client socket: authenticates it, validates every frame, and runs its requests, several at
 * once, each through its own relay.
 */
export class Session implements ClientSink {
  #state: State = "awaiting-hello";
  #identity: Identity | undefined;
  readonly id = newSessionId();
  readonly #relays = new Map<string, Relay>();
  readonly #helloTimer: NodeJS.Timeout;

  constructor(
    private readonly deps: SessionDeps,
    private readonly socket: WebSocket,
  ) {
    this.#helloTimer = setTimeout(() => this.#closeWith("HELLO_REQUIRED", "No hello in time"), deps.helloTimeoutMs);
  }

  /** Handles one inbound frame; never throws. */
  onFrame(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.#sendError("BAD_FRAME", undefined, "Binary frames are not accepted");
      return;
    }
    const parsed = parseClientMessage(data.toString("utf8"));
    if (!parsed.ok) {
      if (this.#state === "awaiting-hello") this.#closeWith("HELLO_REQUIRED", `The first message must be hello (${parsed.reason})`);
      else this.#sendError("BAD_FRAME", undefined, `Invalid message: ${parsed.reason}`);
      return;
    }
    this.#dispatch(parsed.value).catch((error: unknown) => this.#reportFailure(error, "id" in parsed.value ? parsed.value.id : undefined));
  }

  async #dispatch(message: ClientMessage): Promise<void> {
    if (this.#state === "closed") return;
    if (message.type === "hello") return this.#hello(message.v, message.token);
    if (this.#state !== "open") {
      if (this.#state === "awaiting-hello") this.#closeWith("HELLO_REQUIRED", undefined);
      return;
    }
    switch (message.type) {
      case "query":
        return this.#query(message.id, message.dataset, message.params, message.format);
      case "ack":
        return this.#relayFor(message.id).ack(message.seq);
      case "cancel":
        return this.#relayFor(message.id).cancel();
      default: {
        const unreachable: never = message;
        throw new Error(`unhandled message ${JSON.stringify(unreachable)}`);
      }
    }
  }

  async #hello(version: number, token: string): Promise<void> {
    if (this.#state !== "awaiting-hello") {
      this.#sendError("BAD_FRAME", undefined, "hello was already received");
      return;
    }
    clearTimeout(this.#helloTimer);
    if (version !== PROTOCOL_VERSION) {
      this.#closeWith("UNSUPPORTED_VERSION", `This server speaks version ${PROTOCOL_VERSION}`);
      return;
    }
    this.#state = "authenticating";
    try {
      this.#identity = await this.deps.authenticator.verify(token);
    } catch (error) {
      const code = error instanceof SluiceError ? error.code : "AUTH_INVALID";
      this.#closeWith(code, error instanceof SluiceError ? error.message : undefined);
      return;
    }
    if (this.#state !== "authenticating") return;
    this.#state = "open";
    this.sendText({ type: "welcome", v: PROTOCOL_VERSION, session: this.id, window: this.deps.window });
  }

  async #query(id: string, datasetName: string, params: RequestMessage["params"], format: RequestMessage["format"]): Promise<void> {
    const identity = this.#identity;
    if (!identity) throw new SluiceError("INTERNAL");
    if (this.#relays.has(id)) throw new SluiceError("DUPLICATE_REQUEST");
    const dataset = this.deps.config.datasets[datasetName];
    if (!dataset) throw new SluiceError("UNKNOWN_DATASET", `No dataset named "${datasetName.slice(0, 128)}"`);
    bindParams(dataset, params);
    const request: RequestMessage = {
      v: 1,
      key: requestKey(this.id, id),
      id,
      session: this.id,
      tenant: identity.tenant,
      subject: identity.subject,
      dataset: datasetName,
      params,
      format,
    };
    const relay = new Relay(this.deps, request, this, (finished) => {
      if (this.#relays.get(finished.id) === finished) this.#relays.delete(finished.id);
    });
    this.#relays.set(id, relay);
    try {
      await relay.start();
    } catch (error) {
      await relay.abandon();
      throw new SluiceError("SERVICE_UNAVAILABLE", undefined, { cause: error });
    }
  }

  #relayFor(id: string): Relay {
    const relay = this.#relays.get(id);
    if (!relay) throw new SluiceError("UNKNOWN_REQUEST", `No request "${id}" on this session`);
    return relay;
  }

  #reportFailure(error: unknown, id: string | undefined): void {
    if (error instanceof SluiceError) {
      this.#sendError(error.code, id, error.message);
      return;
    }
    this.deps.logger.error({ err: error, session: this.id }, "unexpected failure handling a frame");
    this.#sendError("INTERNAL", id, undefined);
  }

  sendText(message: ServerMessage): void {
    if (this.#state === "closed") return;
    this.socket.send(encodeMessage(message));
  }

  sendBinary(header: Uint8Array, payload: Uint8Array): void {
    if (this.#state === "closed") return;
    // Two fragments of one message: the payload goes to the socket as it came from NATS, uncopied.
    this.socket.send(header, { binary: true, fin: false });
    this.socket.send(payload, { binary: true, fin: true });
  }

  #sendError(code: ErrorCode, id: string | undefined, message: string | undefined): void {
    this.deps.metrics.errors.inc({ code });
    this.sendText({ type: "error", ...(id === undefined ? {} : { id }), code, message: message ?? ERROR_CODES[code].message });
  }

  #closeWith(code: ErrorCode, message: string | undefined): void {
    if (this.#state === "closed") return;
    this.#sendError(code, undefined, message);
    this.socket.close(ERROR_CODES[code].close ?? 1008, code);
    void this.onClose();
  }

  /**
   * The socket closed: every request of the session is stopped and its resources released.
   * Resolves when that is done.
   */
  async onClose(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#helloTimer);
    await Promise.allSettled([...this.#relays.values()].map((relay) => relay.abandon()));
  }
}
