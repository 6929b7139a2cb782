import type { WebSocket } from "ws";
import { bindParams, type SluiceConfig } from "@sluice/config";
import { requestKey, type AuditLog, type RequestMessage } from "@sluice/broker";
import {
  ERROR_CODES,
  PROTOCOL_VERSION,
  SluiceError,
  echoName,
  encodeMessage,
  parseClientMessage,
  tenantIsValid,
  type ClientMessage,
  type ErrorCode,
  type Hello,
  type ResumeRequest,
  type ServerMessage,
} from "@sluice/protocol";
import { refusalRecord } from "./audit-record.js";
import type { Authenticator, Identity } from "./auth.js";
import { FrameRate } from "./frame-rate.js";
import { Relay, type ClientSink, type RelayDeps } from "./relay.js";
import { newSessionId, ownsSession } from "./session-id.js";
import type { ActiveSession, SessionRegistry } from "./session-registry.js";
import type { TenantSockets } from "./tenant-sockets.js";

export interface SessionDeps extends RelayDeps {
  readonly config: SluiceConfig;
  readonly authenticator: Authenticator;
  readonly helloTimeoutMs: number;
  /** Heartbeat interval announced in the welcome (the edge server sends the heartbeats). */
  readonly heartbeatMs: number;
  readonly registry: SessionRegistry;
  /** Key binding session ids to their tenant and subject, so only they can resume a session. */
  readonly sessionKey: string;
  readonly tenantSockets: TenantSockets;
  /** Requests running at once on one socket; more wait in a queue of `maxQueuedPerSocket`. */
  readonly maxRequestsPerSocket: number;
  readonly maxQueuedPerSocket: number;
  /** Where requests refused at the edge are recorded; absent when no database has role audit. */
  readonly audit?: AuditLog;
  /** Frames (acks of its running requests aside) a socket may send in one second; more close it. */
  readonly maxFramesPerSecond: number;
}

/** Websocket close codes: a client that says goodbye (1000, 1001) is not coming back. */
const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_ABNORMAL = 1006;
/** Finished request ids a session remembers, to refuse their reuse. */
const MAX_USED_IDS = 10_000;
/** setTimeout's longest delay; a token valid for longer is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type State = "awaiting-hello" | "authenticating" | "open" | "closed";

/**
 * One client socket: authenticates it, validates every frame, and runs its requests, several at
 * once, each through its own relay.
 */
/** A request accepted on the socket, with the caller's trace context if it sent one. */
interface Queued {
  readonly request: RequestMessage;
  readonly traceparent?: string;
}

export class Session implements ClientSink, ActiveSession {
  #state: State = "awaiting-hello";
  #identity: Identity | undefined;
  #id = "";
  readonly #relays = new Map<string, Relay>();
  /** Ids of the session's finished requests, newest last: an id is never used twice. */
  readonly #usedIds = new Set<string>();
  /** Requests over the per-socket limit, started in order as running ones finish. */
  readonly #queued: Queued[] = [];
  readonly #helloTimer: NodeJS.Timeout;
  readonly #frameRate: FrameRate;
  #expiryTimer: NodeJS.Timeout | undefined;
  /** The tenant this socket counts against on this edge, once welcomed. */
  #countedTenant: string | undefined;

  constructor(
    private readonly deps: SessionDeps,
    private readonly socket: WebSocket,
  ) {
    this.#helloTimer = setTimeout(() => this.#closeWith("HELLO_REQUIRED", "No hello in time"), deps.helloTimeoutMs);
    this.#frameRate = new FrameRate(deps.maxFramesPerSecond);
  }

  /** Handles one inbound frame; never throws. */
  onFrame(data: Buffer, isBinary: boolean): void {
    const parsed = isBinary ? undefined : parseClientMessage(data.toString("utf8"));
    // Acks of running requests are bounded by the chunks sent; every other frame counts.
    const ownAck = parsed?.ok === true && parsed.value.type === "ack" && this.#relays.has(parsed.value.id);
    if (!ownAck && this.#frameRate.over()) {
      this.#closeWith("TOO_MANY_FRAMES", `More than ${this.deps.maxFramesPerSecond} frames in a second`);
      return;
    }
    if (!parsed) {
      this.#sendError("BAD_FRAME", undefined, "Binary frames are not accepted");
      return;
    }
    if (!parsed.ok) {
      if (this.#state === "awaiting-hello") this.#closeWith("HELLO_REQUIRED", `The first message must be hello (${parsed.reason})`);
      else this.#sendError("BAD_FRAME", undefined, `Invalid message: ${parsed.reason}`);
      return;
    }
    this.#dispatch(parsed.value).catch((error: unknown) => this.#reportFailure(error, "id" in parsed.value ? parsed.value.id : undefined));
  }

  async #dispatch(message: ClientMessage): Promise<void> {
    if (this.#state === "closed") return;
    if (message.type === "hello") return this.#hello(message);
    if (this.#state !== "open") {
      if (this.#state === "awaiting-hello") this.#closeWith("HELLO_REQUIRED", undefined);
      return;
    }
    switch (message.type) {
      case "query":
        return this.#query(message.id, message.dataset, message.params, message.format, message.traceparent);
      case "ack":
        return this.#relayFor(message.id).ack(message.seq);
      case "cancel":
        return this.#cancel(message.id);
      case "refresh":
        return this.#refresh(message.token);
      default: {
        const unreachable: never = message;
        throw new Error(`unhandled message ${JSON.stringify(unreachable)}`);
      }
    }
  }

  get id(): string {
    return this.#id;
  }

  async #hello({ v: version, token, resume }: Hello): Promise<void> {
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
    let identity: Identity;
    try {
      identity = await this.deps.authenticator.verify(token);
    } catch (error) {
      const code = error instanceof SluiceError ? error.code : "AUTH_INVALID";
      this.#closeWith(code, error instanceof SluiceError ? error.message : undefined);
      return;
    }
    if (this.#state !== "authenticating") return;
    // A tenant that cannot name a schema could never run a request: refused at once.
    if (!tenantIsValid(identity.tenant)) {
      this.#closeWith("TENANT_INVALID", undefined);
      return;
    }
    this.#identity = identity;
    if (resume && !ownsSession(this.deps.sessionKey, resume.session, identity)) {
      this.#closeWith("RESUME_FAILED", "The session belongs to another tenant or subject, or does not exist");
      return;
    }
    if (!this.deps.tenantSockets.acquire(identity.tenant)) {
      this.#closeWith("TOO_MANY_SOCKETS", undefined);
      return;
    }
    this.#countedTenant = identity.tenant;
    this.#armExpiry(identity);
    this.#id = resume?.session ?? newSessionId(this.deps.sessionKey, identity);
    const attach = resume ? await this.#resume(identity, resume.requests) : [];
    if (this.#state !== "authenticating") return;
    this.#state = "open";
    this.deps.registry.activate(this.#id, this);
    this.sendText({
      type: "welcome",
      v: PROTOCOL_VERSION,
      session: this.#id,
      window: this.deps.window,
      expires: identity.expiresAt,
      heartbeat: this.deps.heartbeatMs,
      ...(resume ? { resumed: true } : {}),
    });
    for (const [relay, next] of attach) relay.attach(this, next, (finished) => this.#forget(finished));
    for (const { id } of resume?.requests ?? []) {
      if (!this.#relays.has(id)) this.#sendError("RESUME_FAILED", id, `Request "${id}" can no longer be resumed`);
    }
  }

  /**
   * Takes the session's requests back: from this edge's own detached session when the client
   * reconnected here, else with fresh consumers. Returns the relays to attach after the welcome.
   */
  async #resume(identity: Identity, requests: readonly ResumeRequest[]): Promise<[Relay, number][]> {
    const held = await this.deps.registry.takeover(this.#id, this);
    const attach: [Relay, number][] = [];
    for (const { id, next } of requests) {
      // An id listed twice, or more requests than a socket may run: the rest get RESUME_FAILED.
      if (this.#relays.has(id) || this.#relays.size >= this.deps.maxRequestsPerSocket) continue;
      let relay = held.get(id);
      held.delete(id);
      if (!relay) {
        const request: RequestMessage = { v: 1, key: requestKey(this.#id, id), id, session: this.#id, tenant: identity.tenant, subject: identity.subject, dataset: "", params: {}, format: "csv" };
        relay = new Relay(this.deps, request, this, (finished) => this.#forget(finished));
        try {
          await relay.resume(next);
        } catch (error) {
          this.deps.metrics.resumes.inc({ outcome: "failed" });
          this.deps.logger.info({ err: error, request: request.key }, "request could not be resumed");
          continue;
        }
      }
      this.#relays.set(id, relay);
      this.deps.metrics.resumes.inc({ outcome: "resumed" });
      attach.push([relay, next]);
    }
    // Requests the client no longer asks for are of no use to anyone.
    await Promise.allSettled([...held.values()].map((relay) => relay.abandon()));
    return attach;
  }

  /**
   * A new token for the same tenant and subject moves the socket's expiry. A refused one closes
   * the socket like an expired token: its requests wait for a resume with a good token.
   */
  async #refresh(token: string): Promise<void> {
    const current = this.#identity;
    if (!current) throw new SluiceError("INTERNAL");
    let identity: Identity;
    try {
      identity = await this.deps.authenticator.verify(token);
    } catch (error) {
      const code = error instanceof SluiceError ? error.code : "AUTH_INVALID";
      if (code === "SERVICE_UNAVAILABLE") throw error; // the current token still holds; the client may try again
      this.#closeWith(code, error instanceof SluiceError ? error.message : undefined, { keepRequests: true });
      return;
    }
    if (this.#state !== "open") return;
    if (identity.tenant !== current.tenant || identity.subject !== current.subject) {
      this.#closeWith("AUTH_INVALID", "The new token names another tenant or subject", { keepRequests: true });
      return;
    }
    this.#identity = identity;
    this.#armExpiry(identity);
    this.sendText({ type: "refreshed", expires: identity.expiresAt });
  }

  /** Closes the socket when its token expires (plus the allowed clock skew), unless refreshed. */
  #armExpiry(identity: Identity): void {
    clearTimeout(this.#expiryTimer);
    const left = (identity.expiresAt + this.deps.authenticator.clockSkewS) * 1000 - Date.now();
    this.#expiryTimer = setTimeout(() => {
      if (left > MAX_TIMER_MS) this.#armExpiry(identity);
      else this.#closeWith("AUTH_EXPIRED", "The token expired; reconnect with a new one to resume", { keepRequests: true });
    }, Math.max(0, Math.min(left, MAX_TIMER_MS)));
  }

  #forget(relay: Relay): void {
    if (this.#relays.get(relay.id) !== relay) return;
    this.#relays.delete(relay.id);
    this.#usedIds.add(relay.id);
    if (this.#usedIds.size > MAX_USED_IDS) this.#usedIds.delete(this.#usedIds.values().next().value ?? "");
    this.#startQueued();
  }

  /** Starts waiting requests while the socket is under its limit. */
  #startQueued(): void {
    while (this.#state === "open" && this.#relays.size < this.deps.maxRequestsPerSocket) {
      const queued = this.#queued.shift();
      if (!queued) return;
      this.#start(queued).catch((error: unknown) => this.#reportFailure(error, queued.request.id));
    }
  }

  async #cancel(id: string): Promise<void> {
    const queued = this.#queued.findIndex(({ request }) => request.id === id);
    if (queued === -1) return this.#relayFor(id).cancel();
    this.#queued.splice(queued, 1);
    this.sendText({ type: "error", id, code: "CANCELLED", message: ERROR_CODES.CANCELLED.message });
  }

  async #query(id: string, datasetName: string, params: RequestMessage["params"], format: RequestMessage["format"], traceparent?: string): Promise<void> {
    const identity = this.#identity;
    if (!identity) throw new SluiceError("INTERNAL");
    if (this.#relays.has(id) || this.#queued.some(({ request }) => request.id === id)) throw new SluiceError("DUPLICATE_REQUEST");
    // A request's stream names derive from its id: a second use would meet the first's leftovers.
    if (this.#usedIds.has(id)) throw new SluiceError("DUPLICATE_REQUEST", `Request id "${id}" was already used on this session`);
    const request: RequestMessage = {
      v: 1,
      key: requestKey(this.#id, id),
      id,
      session: this.#id,
      tenant: identity.tenant,
      subject: identity.subject,
      dataset: datasetName,
      params,
      format,
    };
    try {
      // Checked before the name is looked up: a token limited to some datasets learns nothing of the others.
      if (identity.datasets && !identity.datasets.includes(datasetName)) {
        throw new SluiceError("DATASET_FORBIDDEN", `The token does not allow dataset ${echoName(datasetName)}`);
      }
      const dataset = this.deps.config.datasets[datasetName];
      if (!dataset) throw new SluiceError("UNKNOWN_DATASET", `No dataset named ${echoName(datasetName)}`);
      bindParams(dataset, params);
      if (this.#relays.size >= this.deps.maxRequestsPerSocket && this.#queued.length >= this.deps.maxQueuedPerSocket) {
        throw new SluiceError("TOO_MANY_REQUESTS");
      }
    } catch (error) {
      this.#auditRefusal(request, error);
      throw error;
    }
    const queued: Queued = { request, ...(traceparent ? { traceparent } : {}) };
    if (this.#relays.size < this.deps.maxRequestsPerSocket) return this.#start(queued);
    this.#queued.push(queued);
  }

  /** A request refused here never reaches a worker: the audit record is the edge's to write. */
  #auditRefusal(request: RequestMessage, error: unknown): void {
    if (this.deps.audit) void this.deps.audit.record(refusalRecord(request, error instanceof SluiceError ? error.code : "INTERNAL"));
  }

  async #start({ request, traceparent }: Queued): Promise<void> {
    const { id } = request;
    const relay = new Relay(this.deps, request, this, (finished) => this.#forget(finished));
    this.#relays.set(id, relay);
    try {
      await relay.start(traceparent);
    } catch (error) {
      if (error instanceof SluiceError && error.code === "DUPLICATE_REQUEST") {
        // The first request of that id owns the stream data: stop reading, touch nothing.
        await relay.release();
        this.#relays.delete(id);
        throw error;
      }
      await relay.abandon();
      this.#auditRefusal(request, new SluiceError("SERVICE_UNAVAILABLE"));
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
    this.deps.logger.error({ err: error, session: this.#id }, "unexpected failure handling a frame");
    this.#sendError("INTERNAL", id, undefined);
  }

  /**
   * The session was resumed on another socket while this one still seemed open (its link died
   * unnoticed): its requests now belong to the new socket, so they are let go untouched, and this
   * socket is closed.
   */
  async yieldTo(): Promise<void> {
    if (this.#state === "closed") return;
    const relays = [...this.#relays.values()];
    this.#relays.clear();
    this.#closeWith("SESSION_MOVED", undefined);
    await Promise.allSettled(relays.map((relay) => relay.release()));
  }

  /** Tells the client the link is alive; only once the session is open (before, hello times out). */
  heartbeat(): void {
    if (this.#state === "open") this.sendText({ type: "heartbeat" });
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

  /**
   * Sends the error and closes the socket with the code's close code. The session's requests are
   * stopped, or with `keepRequests` wait for a resume as after a dropped connection.
   */
  #closeWith(code: ErrorCode, message: string | undefined, options = { keepRequests: false }): void {
    if (this.#state === "closed") return;
    const closeCode = ERROR_CODES[code].close ?? 1008;
    this.#sendError(code, undefined, message);
    this.socket.close(closeCode, code);
    void this.onClose(options.keepRequests ? closeCode : CLOSE_NORMAL);
  }

  /**
   * The socket closed: the session's requests wait for the client to resume them for the grace
   * period, and are stopped and released after it. Resolves once they are handed over.
   */
  async onClose(code = CLOSE_ABNORMAL): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.deps.registry.deactivate(this.#id, this);
    clearTimeout(this.#helloTimer);
    clearTimeout(this.#expiryTimer);
    if (this.#countedTenant !== undefined) this.deps.tenantSockets.release(this.#countedTenant);
    this.#countedTenant = undefined;
    // Waiting requests never reached a worker: there is nothing to release or resume.
    this.#queued.length = 0;
    if (code === CLOSE_NORMAL || code === CLOSE_GOING_AWAY) {
      // The client closed on purpose: nobody will resume these requests.
      await Promise.allSettled([...this.#relays.values()].map((relay) => relay.abandon()));
      return;
    }
    // The client may come back (here or to another edge) within the grace period.
    await this.deps.registry.detach(this.#id, new Map(this.#relays));
    this.#relays.clear();
  }
}
