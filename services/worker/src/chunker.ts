import { SluiceError } from "@sluice/protocol";

/** The first chunk is small so the first rows reach the client quickly. */
const FIRST_CHUNK_BYTES = 64 * 1024;

export interface FullChunk {
  readonly data: Uint8Array;
  readonly rows: number;
  /** Key of the chunk's last row, when rows come with keys. */
  readonly lastKey: string | undefined;
}

/**
 * Packs encoded rows (one string each) into chunks of whole lines, each at most `maxBytes`.
 * Strings are written straight into the chunk's buffer: one copy, no per-field work.
 */
export class Chunker {
  #buffer: Buffer;
  #used = 0;
  #rows = 0;
  #lastKey: string | undefined;

  constructor(private readonly maxBytes: number) {
    this.#buffer = Buffer.allocUnsafe(Math.min(maxBytes, FIRST_CHUNK_BYTES));
  }

  /** Bytes the current chunk may hold. */
  get capacity(): number {
    return this.#buffer.length;
  }

  /**
   * Adds one row. Returns the chunk it completed when the row did not fit, else undefined.
   * Throws ROW_TOO_LARGE for a row that fits in no chunk.
   */
  add(line: string, key?: string): FullChunk | undefined {
    const length = Buffer.byteLength(line);
    let full: FullChunk | undefined;
    if (this.#used + length + 1 > this.#buffer.length) {
      if (length + 1 > this.maxBytes) throw new SluiceError("ROW_TOO_LARGE");
      full = this.take();
      // The small first buffer may be too small for this row even when empty.
      if (this.#buffer.length < length + 1) this.#buffer = Buffer.allocUnsafe(this.maxBytes);
    }
    this.#buffer.write(line, this.#used);
    this.#used += length;
    this.#buffer[this.#used++] = 10;
    this.#rows++;
    this.#lastKey = key;
    return full;
  }

  /** Takes what has been added so far, or undefined when nothing has. */
  take(): FullChunk | undefined {
    if (this.#rows === 0) return undefined;
    const full = { data: this.#buffer.subarray(0, this.#used), rows: this.#rows, lastKey: this.#lastKey };
    this.#buffer = Buffer.allocUnsafe(this.maxBytes);
    this.#used = 0;
    this.#rows = 0;
    return full;
  }
}
