import { parseCsvRows, type Column } from "@sluice/protocol";

/** One chunk as received, and where each of its rows starts. */
interface StoredChunk {
  /** Index of the chunk's first row in the whole result. */
  readonly firstRow: number;
  readonly data: Uint8Array;
  /** Byte offset of each row's start, plus one past the last row: rows + 1 entries. */
  readonly starts: Uint32Array;
}

/** Decoded rows kept for the grid's visible window and a little around it. Default 512. */
export const DEFAULT_DECODED_ROWS = 512;

const LF = 10;
const QUOTE = 34;

/**
 * A CSV result held as the chunk bytes it arrived in, plus a Uint32Array of row offsets per
 * chunk: about 4 bytes per row beyond the CSV itself. Only the rows asked for (the grid's visible
 * window) are decoded into strings, and a bounded number of them is kept.
 */
export class RowStore {
  readonly columns: readonly Column[];
  readonly #chunks: StoredChunk[] = [];
  readonly #decoded = new Map<number, (string | null)[]>();
  readonly #decodedLimit: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  #rows = 0;
  #bytes = 0;

  constructor(columns: readonly Column[], decodedLimit = DEFAULT_DECODED_ROWS) {
    this.columns = columns;
    this.#decodedLimit = decodedLimit;
  }

  /** Rows held. */
  get rows(): number {
    return this.#rows;
  }

  /** CSV bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds a chunk of `rows` whole CSV lines; throws when its lines do not number `rows`. */
  append(data: Uint8Array, rows: number): void {
    this.#chunks.push({ firstRow: this.#rows, data, starts: rowStarts(data, rows) });
    this.#rows += rows;
    this.#bytes += data.length;
  }

  /** The fields of row `index`: null is SQL NULL, "" the empty string. */
  row(index: number): (string | null)[] {
    const cached = this.#decoded.get(index);
    if (cached !== undefined) return cached;
    const chunk = this.#chunkOf(index);
    const at = index - chunk.firstRow;
    const line = chunk.data.subarray(chunk.starts[at], chunk.starts[at + 1]);
    const row = parseCsvRows(this.#decoder.decode(line))[0] ?? [];
    if (this.#decoded.size >= this.#decodedLimit) {
      // Maps iterate in insertion order: the first key is the row decoded longest ago.
      const oldest = this.#decoded.keys().next();
      if (oldest.done !== true) this.#decoded.delete(oldest.value);
    }
    this.#decoded.set(index, row);
    return row;
  }

  /** The value at (`row`, `column`); undefined outside the rows held. */
  cell(row: number, column: number): string | null | undefined {
    if (row < 0 || row >= this.#rows) return undefined;
    return this.row(row)[column];
  }

  #chunkOf(row: number): StoredChunk {
    if (!Number.isInteger(row) || row < 0 || row >= this.#rows) throw new RangeError(`row ${row} is not held (0-${this.#rows - 1})`);
    let low = 0;
    let high = this.#chunks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.#chunks[middle] as StoredChunk).firstRow <= row) low = middle;
      else high = middle - 1;
    }
    return this.#chunks[low] as StoredChunk;
  }
}

/**
 * Row start offsets of a chunk of `rows` CSV lines. Most results have no line break inside a
 * field, so every LF ends a row and the native indexOf finds them; when the count disagrees
 * with `rows`, a scan that skips quoted fields does it properly.
 */
export function rowStarts(data: Uint8Array, rows: number): Uint32Array {
  const starts = new Uint32Array(rows + 1);
  let row = 0;
  for (let at = data.indexOf(LF); at !== -1 && row < rows; at = data.indexOf(LF, at + 1)) starts[++row] = at + 1;
  if (row === rows && starts[rows] === data.length) return starts;
  return quotedRowStarts(data, rows);
}

function quotedRowStarts(data: Uint8Array, rows: number): Uint32Array {
  const starts = new Uint32Array(rows + 1);
  let row = 0;
  let quoted = false;
  for (let at = 0; at < data.length; at++) {
    const byte = data[at];
    // A doubled quote inside a quoted field toggles twice: no harm done.
    if (byte === QUOTE) quoted = !quoted;
    else if (byte === LF && !quoted) {
      if (++row > rows) break;
      starts[row] = at + 1;
    }
  }
  if (row !== rows || starts[rows] !== data.length) {
    throw new RangeError(`a chunk said ${rows} rows but holds ${row} whole CSV lines`);
  }
  return starts;
}
