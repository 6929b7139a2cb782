import { JetStreamApiError, type JetStreamClient, type PubAck } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { encodeResultHeader, type FlowSignal, type Names, type ResultHeader } from "@sluice/broker";
import { SluiceError } from "@sluice/protocol";

/** JetStream error codes the publisher acts on. */
const WINDOW_FULL = 10077; // discard_new_per_subject: the request has `window` unacked chunks stored
const WRONG_LAST_SEQUENCE = 10071; // someone else wrote or purged the subject: we are fenced off

/** How long to wait for an edge's nudge before trying again anyway (nudges are best effort). */
const RETRY_AFTER_MS = 1000;

export interface PublisherOptions {
  readonly key: string;
  /** Give up when the client has acked nothing for this long. */
  readonly idleTimeoutMs: number;
}

/**
 * Publishes one request's results in order on its own subject. The stream refuses a message while
 * the request's window is full; the publisher then waits for the edge's nudge (a client ack) and
 * retries. Each publish expects the subject's last sequence to be the one it wrote before, so a
 * cancel (the edge purges the subject) or a second worker fences this one off.
 */
export class ResultPublisher {
  #lastSubjectSeq = 0;
  /** Signals received so far: one that lands while a publish is in flight is not lost. */
  #signals = 0;
  #wake: (() => void) | undefined;
  #onCancel: (() => void) | undefined;
  #state: "running" | "cancelled" | "idle" | "handed-over" | "closed" = "running";
  readonly #subscription: Subscription;
  readonly #subject: string;

  constructor(
    nc: NatsConnection,
    private readonly js: JetStreamClient,
    names: Names,
    private readonly options: PublisherOptions,
  ) {
    this.#subject = names.resultSubject(options.key);
    this.#subscription = nc.subscribe(names.flowSubject(options.key), {
      callback: (_error, msg) => this.#onFlow(msg.string() as FlowSignal),
    });
  }

  /** Continues a subject another publisher wrote up to stream sequence `seq`. */
  resumeAfter(seq: number): void {
    this.#lastSubjectSeq = seq;
  }

  /** True when the client stopped acking for longer than the idle timeout. */
  get idle(): boolean {
    return this.#state === "idle";
  }

  get cancelled(): boolean {
    return this.#state === "cancelled";
  }

  /** Called once when the edge cancels the request, e.g. to interrupt a running statement. */
  onCancel(callback: () => void): void {
    this.#onCancel = callback;
  }

  /** The worker is shutting down: stop at the next step and leave the request to another worker. */
  handOver(): void {
    if (this.#state !== "running") return;
    this.#state = "handed-over";
    this.#onCancel?.();
    this.#wake?.();
  }

  get handedOver(): boolean {
    return this.#state === "handed-over";
  }

  #onFlow(signal: FlowSignal): void {
    this.#signals++;
    if (signal === "cancel" && this.#state === "running") {
      this.#state = "cancelled";
      this.#onCancel?.();
    }
    this.#wake?.();
  }

  /** Publishes one message; resolves once the stream has stored it. */
  async publish(header: ResultHeader, data: Uint8Array): Promise<void> {
    let idleSince = Date.now();
    let retried = false;
    for (;;) {
      if (this.#state === "cancelled" || this.#state === "handed-over") throw new SluiceError("CANCELLED");
      const signalsBefore = this.#signals;
      let ack: PubAck;
      try {
        ack = await this.js.publish(this.#subject, data, {
          headers: encodeResultHeader(header),
          msgID: `${this.options.key}:${header.seq}`,
          expect: { lastSubjectSequence: this.#lastSubjectSeq },
        });
      } catch (error) {
        if (!(error instanceof JetStreamApiError)) {
          // NATS unreachable (restarting, say): the stream is the truth, so try the same message again.
          if (this.#state === "closed" || Date.now() - idleSince > this.options.idleTimeoutMs) throw error;
          retried = true; // our own earlier attempt may have been stored: a duplicate is then ours
          await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
          continue;
        }
        if (error.code === WRONG_LAST_SEQUENCE) {
          this.#state = "cancelled";
          throw new SluiceError("CANCELLED", undefined, { cause: error });
        }
        if (error.code !== WINDOW_FULL) throw error;
        if (Date.now() - idleSince > this.options.idleTimeoutMs) {
          this.#state = "idle";
          throw new SluiceError("CANCELLED", "The client acknowledged nothing within the idle timeout", { cause: error });
        }
        if (this.#signals !== signalsBefore || (await this.#waitForFlow())) idleSince = Date.now();
        continue;
      }
      if (ack.duplicate && !retried) {
        // Another worker already published this seq (it took the request over): stop.
        this.#state = "cancelled";
        throw new SluiceError("CANCELLED", "Another worker continues the request");
      }
      this.#lastSubjectSeq = ack.seq;
      return;
    }
  }

  /** Resolves true when an edge signalled, false on timeout. */
  #waitForFlow(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve(false);
      }, RETRY_AFTER_MS);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve(true);
      };
    });
  }

  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#wake?.();
    this.#subscription.unsubscribe();
  }
}
