import { SluiceError, type Ack, type Cancel, type Chunk, type End, type ErrorMessage, type Format, type Meta } from "@sluice/protocol";
import { decodeRows, type RowOf } from "./rows.js";

/** One chunk of a result: `rows` whole rows as CSV or NDJSON lines, each ending "\n". */
export interface QueryChunk {
  readonly seq: number;
  readonly rows: number;
  readonly data: Uint8Array;
}

/** The totals the server reports at the end of a result. */
export interface QuerySummary {
  readonly rows: number;
  readonly chunks: number;
  readonly bytes: number;
}

/** What a query needs from the session that runs it. */
export interface QueryLink {
  send(message: Ack | Cancel): void;
  /** The server sends nothing more for this query: forget its id. */
  release(query: QueryStream): void;
}

/**
 * running: the server is sending. cancelling: cancel sent; frames still arriving are dropped,
 * and acked only if the server's answer carries a seq. ended: end received; buffered chunks may
 * still wait for the app. failed: an error frame, a confirmed cancel or a lost connection.
 */
type QueryState = "running" | "cancelling" | "ended" | "failed";

/**
 * One request's result, read by iterating it (chunks) or `rows()`. Acks are sent as the app
 * consumes: a chunk is acked when the app asks for the next one, so the server never runs more
 * than its window ahead of the app.
 */
export class QueryStream<F extends Format = Format> implements AsyncIterable<QueryChunk> {
  readonly id: string;
  readonly format: F;
  /** Column names and types; rejects with the request's SluiceError if it fails first. */
  readonly meta: Promise<Meta>;
  /** The server's totals once the result has ended; rejects with the request's SluiceError. */
  readonly result: Promise<QuerySummary>;

  readonly #link: QueryLink;
  readonly #metaSlot = deferred<Meta>();
  readonly #resultSlot = deferred<QuerySummary>();
  readonly #settled = deferred<void>();
  #state: QueryState = "running";
  /** Chunks received and not yet handed to the app, in seq order. */
  readonly #buffer: QueryChunk[] = [];
  /** Seq of the chunk the app holds; acked when it asks for the next one. */
  #current: number | undefined;
  /** Seq of the end frame; acked once every chunk before it is. */
  #endSeq: number | undefined;
  /** While cancelling: frames received and not acked, in order. */
  #unacked: number[] = [];
  /** What iteration throws once it reaches the point of failure. */
  #error: SluiceError | undefined;
  #wake: (() => void) | undefined;
  #claimed = false;

  constructor(id: string, format: F, link: QueryLink) {
    this.id = id;
    this.format = format;
    this.#link = link;
    this.meta = this.#metaSlot.promise;
    this.result = this.#resultSlot.promise;
  }

  /** Yields chunks in seq order. Breaking out of the loop cancels the request. */
  async *[Symbol.asyncIterator](): AsyncGenerator<QueryChunk, void, undefined> {
    if (this.#claimed) throw new Error(`query ${this.id} is already being read`);
    this.#claimed = true;
    let complete = false;
    try {
      for (;;) {
        const chunk = await this.#take();
        if (chunk === undefined) {
          complete = true;
          return;
        }
        yield chunk;
        this.#ackCurrent();
      }
    } finally {
      this.#ackCurrent();
      if (!complete) void this.cancel();
    }
  }

  /** Yields rows: CSV rows (string | null)[] or NDJSON values. Breaking out cancels the request. */
  async *rows(): AsyncGenerator<RowOf<F>, void, undefined> {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    for await (const chunk of this) yield* decodeRows(this.format, chunk.data, decoder) as RowOf<F>[];
  }

  /**
   * Stops the request: iteration throws CANCELLED from now on, and `meta`/`result` reject with
   * it unless already settled. Resolves once the server has confirmed (or the connection is gone).
   */
  cancel(): Promise<void> {
    const cancelled = new SluiceError("CANCELLED", "The request was cancelled by the client");
    switch (this.#state) {
      case "running":
        this.#state = "cancelling";
        this.#link.send({ type: "cancel", id: this.id });
        // Not acked yet: only if the server's answer carries a seq will it want them.
        this.#unacked = this.#stop(cancelled);
        break;
      case "ended":
        // The server still waits for the acks that finish the request: send them all.
        for (const seq of this.#stop(cancelled)) this.#ack(seq);
        this.#ackEndIfDue();
        break;
      case "cancelling":
      case "failed":
        break;
      default:
        unknownState(this.#state);
    }
    return this.#settled.promise;
  }

  /** @internal Called by the session for the request's meta frame. */
  handleMeta(meta: Meta): void {
    switch (this.#state) {
      case "running":
        this.#ack(meta.seq);
        this.#metaSlot.resolve(meta);
        return;
      case "cancelling":
        this.#unacked.push(meta.seq);
        return;
      case "ended":
      case "failed":
        return;
      default:
        unknownState(this.#state);
    }
  }

  /** @internal Called by the session for each of the request's chunk frames. */
  handleChunk(chunk: Chunk): void {
    switch (this.#state) {
      case "running":
        this.#buffer.push({ seq: chunk.seq, rows: chunk.rows, data: chunk.data });
        this.#wakeUp();
        return;
      case "cancelling":
        this.#unacked.push(chunk.seq);
        return;
      case "ended":
      case "failed":
        return;
      default:
        unknownState(this.#state);
    }
  }

  /** @internal Called by the session for the request's end frame. */
  handleEnd(end: End): void {
    if (this.#state === "ended" || this.#state === "failed") return;
    this.#resultSlot.resolve({ rows: end.rows, chunks: end.chunks, bytes: end.bytes });
    this.#metaSlot.reject(new SluiceError("INTERNAL", "The result ended without meta"));
    if (this.#state === "running") {
      this.#state = "ended";
      this.#endSeq = end.seq;
      this.#ackEndIfDue();
    } else {
      // The result ended before the server saw the cancel.
      this.#state = "failed";
      this.#ackUnacked(end.seq);
    }
    this.#finish();
  }

  /**
   * @internal Called by the session for an error frame carrying the request's id. An error with
   * a seq waits for acks (of it and every frame before it); one without is the server's last
   * word, and acks would only draw UNKNOWN_REQUEST.
   */
  handleError(message: ErrorMessage): void {
    if (this.#state === "ended" || this.#state === "failed") return;
    const unconsumed = this.#stop(new SluiceError(message.code, message.message));
    if (this.#state === "running") this.#unacked = unconsumed;
    this.#state = "failed";
    if (message.seq !== undefined) this.#ackUnacked(message.seq);
    this.#finish();
  }

  /** @internal Called by the session when its socket closes; an ended result stays readable. */
  handleConnectionLost(error: SluiceError): void {
    if (this.#state === "ended" || this.#state === "failed") return;
    this.#state = "failed";
    this.#stop(error);
    this.#finish();
  }

  async #take(): Promise<QueryChunk | undefined> {
    for (;;) {
      const chunk = this.#buffer.shift();
      if (chunk !== undefined) {
        this.#current = chunk.seq;
        return chunk;
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#state === "ended") return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /**
   * Ends delivery to the app: settles meta/result with `error` (unless settled) and wakes the
   * reader. Returns the seqs of chunks the app never consumed, in order, unacked.
   */
  #stop(error: SluiceError): number[] {
    this.#error ??= error;
    const unconsumed = this.#buffer.splice(0).map((chunk) => chunk.seq);
    if (this.#current !== undefined) unconsumed.unshift(this.#current);
    this.#current = undefined;
    this.#metaSlot.reject(this.#error);
    this.#resultSlot.reject(this.#error);
    this.#wakeUp();
    return unconsumed;
  }

  /** Acks, in order, every frame received and not acked, then the final frame `seq`. */
  #ackUnacked(seq: number): void {
    for (const unacked of this.#unacked.splice(0)) this.#ack(unacked);
    this.#ack(seq);
  }

  #finish(): void {
    this.#link.release(this);
    this.#settled.resolve();
    this.#wakeUp();
  }

  #ackCurrent(): void {
    if (this.#current === undefined) return;
    this.#ack(this.#current);
    this.#current = undefined;
    this.#ackEndIfDue();
  }

  /** Acks the end frame once every chunk before it is acked. */
  #ackEndIfDue(): void {
    if (this.#endSeq === undefined || this.#current !== undefined || this.#buffer.length > 0) return;
    this.#ack(this.#endSeq);
    this.#endSeq = undefined;
  }

  #ack(seq: number): void {
    this.#link.send({ type: "ack", id: this.id, seq });
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function unknownState(state: never): never {
  throw new Error(`unknown query state ${String(state)}`);
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Marked handled: an app that never reads `meta` or `result` must not get unhandled rejections.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
