import type { QueryStream, SluiceClient } from "@sluice/client";
import { SluiceError, type ParamValue } from "@sluice/protocol";
import { RowStore } from "./row-store.js";

/**
 * starting: query sent, no meta yet. streaming: rows arriving. done: the end frame came.
 * cancelled: stopped by the user. failed: a coded error (the request's or the connection's).
 */
export type RunState = "starting" | "streaming" | "done" | "cancelled" | "failed";

/** A coded error as the page shows it. */
export interface RunError {
  readonly code: string;
  readonly message: string;
}

/** One moment of a run, for display. */
export interface RunSnapshot {
  readonly state: RunState;
  /** The rows received; undefined until the columns are known. */
  readonly store: RowStore | undefined;
  readonly rows: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  /** From the end frame. */
  readonly totalRows: number | undefined;
  /** The planner's guess at the total, from the meta frame (absent when it gave none). */
  readonly estimatedRows: number | undefined;
  readonly error: RunError | undefined;
}

/**
 * Runs one CSV query into a RowStore, reading chunks as fast as they come (each is acked when the
 * next is asked for) and telling `listener` after every step.
 */
export class ResultRun {
  readonly #stream: QueryStream<"csv">;
  readonly #listener: (snapshot: RunSnapshot) => void;
  readonly #now: () => number;
  readonly #startedAt: number;
  #state: RunState = "starting";
  #store: RowStore | undefined;
  #totalRows: number | undefined;
  #estimatedRows: number | undefined;
  #error: RunError | undefined;
  #endedAt: number | undefined;

  constructor(
    client: SluiceClient,
    dataset: string,
    params: Readonly<Record<string, ParamValue>>,
    listener: (snapshot: RunSnapshot) => void,
    now: () => number = () => performance.now(),
  ) {
    this.#listener = listener;
    this.#now = now;
    this.#startedAt = now();
    this.#stream = client.query(dataset, { ...params }, { format: "csv" });
  }

  /** Reads the result to its end, cancellation or failure; never rejects. */
  async run(): Promise<RunSnapshot> {
    try {
      const meta = await this.#stream.meta;
      this.#store = new RowStore(meta.columns);
      this.#estimatedRows = meta.estimatedRows;
      this.#state = "streaming";
      this.#notify();
      for await (const chunk of this.#stream) {
        this.#store.append(chunk.data, chunk.rows);
        this.#notify();
      }
      this.#totalRows = (await this.#stream.result).rows;
      this.#state = "done";
    } catch (error) {
      this.#error = runError(error);
      this.#state = this.#error.code === "CANCELLED" ? "cancelled" : "failed";
    } finally {
      this.#endedAt = this.#now();
      this.#notify();
    }
    return this.snapshot();
  }

  /** Stops the request; `run()` then settles with state "cancelled". */
  cancel(): Promise<void> {
    return this.#stream.cancel();
  }

  snapshot(): RunSnapshot {
    return {
      state: this.#state,
      store: this.#store,
      rows: this.#store?.rows ?? 0,
      bytes: this.#store?.bytes ?? 0,
      elapsedMs: (this.#endedAt ?? this.#now()) - this.#startedAt,
      totalRows: this.#totalRows,
      estimatedRows: this.#estimatedRows,
      error: this.#error,
    };
  }

  #notify(): void {
    this.#listener(this.snapshot());
  }
}

/** Coded errors keep their code; anything else (a chunk that is not CSV, …) is INTERNAL. */
export function runError(error: unknown): RunError {
  if (error instanceof SluiceError) return { code: error.code, message: error.message };
  return { code: "INTERNAL", message: error instanceof Error ? error.message : String(error) };
}
