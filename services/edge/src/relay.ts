import { AckPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import {
  decodeResultHeader,
  discardResult,
  resultEndSchema,
  resultErrorSchema,
  resultMetaSchema,
  startSpan,
  traceFields,
  traceHeaders,
  type FlowSignal,
  type Names,
  type RequestMessage,
  type ResultHeader,
} from "@sluice/broker";
import { SluiceError, encodeChunkHeader, type ServerMessage } from "@sluice/protocol";
import type { Logger } from "@sluice/runtime";
import type { EdgeMetrics } from "./metrics.js";

/** What relays share; one per edge. */
export interface RelayDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly window: number;
  readonly logger: Logger;
  readonly metrics: EdgeMetrics;
}

/** Where a relay sends frames: the client's socket, through its session. */
export interface ClientSink {
  sendText(message: ServerMessage): void;
  sendBinary(header: Uint8Array, payload: Uint8Array): void;
}

/** A request's relay consumer forgets a client that acks nothing for this long. */
const CONSUMER_INACTIVE_MS = 5 * 60_000;
/** JetStream redelivers an unacked chunk after this; chunks wait on the client, not on us. */
const CHUNK_ACK_WAIT_MS = 10 * 60_000;

type State = "starting" | "relaying" | "finished";

/**
 * Relays one request's results from its subject to the client, in order. A chunk is acked to
 * JetStream only when the client acks it; then the acked part of the subject is purged and the
 * worker is nudged, which opens the window for the next chunk.
 */
export class Relay {
  #state: State = "starting";
  #messages: ConsumerMessages | undefined;
  #consumerName: string | undefined;
  readonly #unacked = new Map<number, JsMsg>();
  /** When each chunk not yet acked was sent to the client, for the ack-lag metric. */
  readonly #sentAt = new Map<number, number>();
  readonly #subject: string;
  #logger: Logger;
  /** Where frames go; undefined while the client is away (frames wait in #unacked). */
  #sink: ClientSink | undefined;
  /** Frames below this seq were consumed by the client before it resumed: acked, not sent. */
  #skipBelow = 0;
  /** Highest seq the client acked. */
  #ackedUpTo = -1;
  #onFinished: (relay: Relay) => void;

  constructor(
    private readonly deps: RelayDeps,
    private readonly request: RequestMessage,
    sink: ClientSink,
    onFinished: (relay: Relay) => void,
  ) {
    this.#sink = sink;
    this.#onFinished = onFinished;
    this.#subject = deps.names.resultSubject(request.key);
    this.#logger = deps.logger.child({ request: request.key, tenant: request.tenant, dataset: request.dataset });
  }

  get id(): string {
    return this.request.id;
  }

  /**
   * Creates the request's consumer, then publishes the request for the workers, with the trace
   * context of a new span (continuing the client's `traceparent` when it sent one).
   */
  async start(traceparent?: string): Promise<void> {
    const span = startSpan(traceparent);
    this.#logger = this.#logger.child(traceFields(span));
    await this.#consume();
    const { js, names } = this.deps;
    const ack = await js.publish(names.requestSubject(this.request.key), JSON.stringify(this.request), { msgID: this.request.key, headers: traceHeaders(span) });
    // The request key was published before (an id reused after a resume, on a socket that had not
    // seen it): JetStream dropped this copy, so no worker would ever run it.
    if (ack.duplicate) throw new SluiceError("DUPLICATE_REQUEST", `Request id "${this.request.id}" was already used on this session`);
    this.#logger.info({ subject: this.request.subject, format: this.request.format }, "request queued");
    this.#begin();
  }

  /**
   * Takes over a request whose client resumed here: a consumer of this edge's own reads the
   * request's subject from its start (the last acked frame and those after it). Frames below
   * `next` were already consumed by the client. Throws RESUME_FAILED when nothing is left.
   */
  async resume(next: number): Promise<void> {
    const { jsm, names } = this.deps;
    const latest = (stream: string, subject: string) => jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
    // Nothing published yet is fine while the request still waits in the queue for a worker.
    const exists =
      (await latest(names.resultStream, this.#subject)) ?? (await latest(names.requestStream, names.requestSubject(this.request.key)));
    if (!exists) throw new SluiceError("RESUME_FAILED", `Request "${this.request.id}" can no longer be resumed`);
    this.#sink = undefined; // frames wait until attach(), after the client's welcome
    this.#skipBelow = next;
    await this.#consume();
    this.#begin();
  }

  async #consume(): Promise<void> {
    const { jsm, js, names } = this.deps;
    // A new name for every edge that takes the request: consumers of edges gone stay harmless.
    this.#consumerName = names.relayConsumer(this.request.key, Date.now());
    const info = await jsm.consumers.add(names.resultStream, {
      name: this.#consumerName,
      filter_subject: this.#subject,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(CHUNK_ACK_WAIT_MS),
      // The stream already holds at most `window` unacked messages per request; a consumer limit
      // that is never reached avoids nats-server 2.9 leaving a pull stalled at the limit.
      max_ack_pending: this.deps.window + 1,
      inactive_threshold: nanos(CONSUMER_INACTIVE_MS),
      mem_storage: true,
      num_replicas: 1,
    });
    this.#messages = await js.consumers.getConsumerFromInfo(info).consume({ max_messages: this.deps.window + 1 });
  }

  #begin(): void {
    if (this.#state !== "starting" || !this.#messages) return;
    this.#state = "relaying";
    this.deps.metrics.active.inc();
    void this.#relay(this.#messages);
  }

  async #relay(messages: ConsumerMessages): Promise<void> {
    void this.#watch(messages);
    try {
      for await (const msg of messages) {
        if (this.#state !== "relaying" || messages !== this.#messages) break;
        this.#forward(msg);
      }
    } catch (error) {
      if (messages !== this.#messages) return;
      this.#logger.warn({ err: error }, "relay stopped");
      this.#fail(new SluiceError("SERVICE_UNAVAILABLE", undefined, { cause: error }));
    }
  }

  /**
   * The relay consumer lives in memory: a NATS server restart loses it. A new one reads the
   * subject again; frames the client holds are matched by seq and not sent twice.
   */
  async #watch(messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      if (messages !== this.#messages || this.#state !== "relaying") return;
      if (status.type !== "consumer_not_found" && status.type !== "consumer_deleted") continue;
      this.#logger.warn({ status: status.type }, "relay consumer lost; creating a new one");
      messages.stop();
      try {
        this.#skipBelow = Math.max(this.#skipBelow, this.#ackedUpTo + 1);
        await this.#consume();
        if (this.#messages && this.#state === "relaying") void this.#relay(this.#messages);
      } catch (error) {
        this.#fail(new SluiceError("SERVICE_UNAVAILABLE", undefined, { cause: error }));
      }
      return;
    }
  }

  #forward(msg: JsMsg): void {
    const header = decodeResultHeader(msg.headers);
    if (!header) {
      this.#logger.error({ seq: msg.seq }, "ignoring a malformed result message");
      msg.term();
      return;
    }
    if (this.#unacked.has(header.seq)) {
      // A frame the client already has, delivered again (by a new consumer): ack this copy later.
      this.#unacked.set(header.seq, msg);
      return;
    }
    if (header.seq < this.#skipBelow && header.kind !== "error") {
      void this.#consumed(msg); // consumed by the client before it resumed
      return;
    }
    this.#unacked.set(header.seq, msg);
    if (this.#sink) this.#send(this.#sink, header, msg);
  }

  #send(sink: ClientSink, header: ResultHeader, msg: JsMsg): void {
    const { id } = this.request;
    switch (header.kind) {
      case "meta":
        sink.sendText({ type: "meta", id, seq: 0, ...resultMetaSchema.parse(msg.json()) });
        break;
      case "chunk":
        sink.sendBinary(encodeChunkHeader({ id, seq: header.seq, rows: header.rows }), msg.data);
        this.#sentAt.set(header.seq, performance.now());
        this.deps.metrics.chunks.inc();
        this.deps.metrics.bytes.inc(msg.data.length);
        break;
      case "end":
        sink.sendText({ type: "end", id, seq: header.seq, ...resultEndSchema.parse(msg.json()) });
        break;
      case "error": {
        const error = resultErrorSchema.parse(msg.json());
        this.deps.metrics.errors.inc({ code: error.code });
        sink.sendText({ type: "error", id, seq: header.seq, ...error });
        break;
      }
      default: {
        const unreachable: never = header.kind;
        throw new Error(`unknown result kind ${String(unreachable)}`);
      }
    }
  }

  /** The client went away: keep the request, hold its frames, send nothing. */
  detach(): void {
    this.#sink = undefined;
  }

  /**
   * The client is back (on this edge): frames below `next` it had consumed are acked, the
   * others are sent again, in order.
   */
  attach(sink: ClientSink, next: number, onFinished: (relay: Relay) => void): void {
    this.#sink = sink;
    this.#onFinished = onFinished;
    this.#skipBelow = Math.max(this.#skipBelow, next);
    const held = [...this.#unacked.entries()].sort(([a], [b]) => a - b);
    for (const [seq, msg] of held) {
      const header = decodeResultHeader(msg.headers);
      if (!header) continue;
      if (seq < next && header.kind !== "error") {
        this.#unacked.delete(seq);
        void this.#consumed(msg);
      } else {
        this.#send(sink, header, msg);
      }
    }
  }

  /** Another edge took the request over: stop reading it here, leave its data alone. */
  async release(): Promise<void> {
    if (this.#state === "finished") return;
    this.#stopReading();
    if (this.#consumerName) await this.deps.jsm.consumers.delete(this.deps.names.resultStream, this.#consumerName).catch(() => undefined);
  }

  /** The client consumed `seq`: ack it to JetStream, drop what is behind it, and open the window. */
  async ack(seq: number): Promise<void> {
    const msg = this.#unacked.get(seq);
    if (!msg) {
      // After a resume a client may ack a frame this edge has not read back yet: it is consumed.
      this.#skipBelow = Math.max(this.#skipBelow, seq + 1);
      return;
    }
    this.#unacked.delete(seq);
    this.#ackedUpTo = Math.max(this.#ackedUpTo, seq);
    const sentAt = this.#sentAt.get(seq);
    if (sentAt !== undefined) {
      this.#sentAt.delete(seq);
      this.deps.metrics.ackLagSeconds.observe((performance.now() - sentAt) / 1000);
    }
    await this.#consumed(msg);
  }

  async #consumed(msg: JsMsg): Promise<void> {
    msg.ack();
    const kind = decodeResultHeader(msg.headers)?.kind;
    if (kind === "end" || kind === "error") {
      await this.#finish(kind === "end" ? "completed" : "failed");
      return;
    }
    // Purge keeps msg.seq itself (the cursor of the request). nats-server 2.9 reads seq 1 as
    // "no bound" and would purge the whole subject, but nothing precedes seq 1 anyway.
    try {
      if (msg.seq > 1) await this.deps.jsm.streams.purge(this.deps.names.resultStream, { filter: this.#subject, seq: msg.seq });
    } catch (error) {
      // NATS is briefly away: the next ack's purge covers this one.
      this.#logger.debug({ err: error }, "purge behind an ack failed");
    }
    this.#signal("acked");
  }

  /** Stops the request: the worker is told, and purging the subject fences it off for good. */
  async cancel(): Promise<void> {
    if (this.#state === "finished") return;
    this.#signal("cancel");
    await this.#finish("cancelled", { tombstone: true });
    this.#sink?.sendText({ type: "error", id: this.request.id, code: "CANCELLED", message: new SluiceError("CANCELLED").message });
  }

  /** The client went away: stop relaying and release everything the request holds. */
  async abandon(): Promise<void> {
    if (this.#state === "finished") return;
    this.#signal("cancel");
    await this.#finish("abandoned", { tombstone: true });
  }

  #fail(error: SluiceError): void {
    if (this.#state === "finished") return;
    this.#sink?.sendText({ type: "error", id: this.request.id, code: error.code, message: error.message });
    void this.#finish("failed");
  }

  /** Stops reading the subject and forgets the frames in flight; the request is finished here. */
  #stopReading(): void {
    if (this.#state === "relaying") this.deps.metrics.active.dec();
    this.#state = "finished";
    this.#unacked.clear();
    this.#sentAt.clear();
    this.#messages?.stop();
  }

  #signal(signal: FlowSignal): void {
    this.deps.nc.publish(this.deps.names.flowSubject(this.request.key), signal);
  }

  /**
   * Releases the request's consumer and stream data. A stopped request leaves a small CANCELLED
   * marker behind: a worker that has not started it yet finds the subject taken and stops.
   */
  async #finish(outcome: string, options: { tombstone: boolean } = { tombstone: false }): Promise<void> {
    if (this.#state === "finished") return;
    this.#stopReading();
    this.#onFinished(this);
    this.deps.metrics.requests.inc({ outcome });
    const { jsm, names } = this.deps;
    const consumerGone = this.#consumerName ? jsm.consumers.delete(names.resultStream, this.#consumerName) : undefined;
    try {
      await discardResult(this.deps.js, jsm, names, this.request.key, { marker: options.tombstone });
    } catch (error) {
      this.#logger.warn({ err: error }, "could not clean up the request's stream data");
    }
    await consumerGone?.catch(() => undefined);
  }
}
