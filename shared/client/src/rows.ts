import { SluiceError, parseCsvRows, type Format } from "@sluice/protocol";

/** A CSV row: null is SQL NULL (an unquoted empty field), "" an empty string. */
export type CsvRow = (string | null)[];

/** The row type `QueryStream.rows()` yields for a format: CSV rows, or parsed NDJSON values. */
export type RowOf<F extends Format> = F extends "csv" ? CsvRow : unknown;

/**
 * Splits one chunk's payload into rows. Chunks hold whole lines, so each decodes on its own.
 * `decoder` should be fatal, so that bytes which are not UTF-8 fail rather than turn into U+FFFD.
 */
export function decodeRows(format: Format, data: Uint8Array, decoder: TextDecoder): unknown[] {
  let text: string;
  try {
    text = decoder.decode(data);
  } catch (cause) {
    throw new SluiceError("BAD_FRAME", "A chunk is not valid UTF-8", { cause });
  }
  switch (format) {
    case "csv":
      return parseCsv(text);
    case "ndjson":
      return parseNdjson(text);
    default: {
      const unknown: never = format;
      throw new Error(`unknown format ${String(unknown)}`);
    }
  }
}

function parseCsv(text: string): CsvRow[] {
  try {
    return parseCsvRows(text);
  } catch (cause) {
    throw new SluiceError("BAD_FRAME", "A chunk is not valid CSV", { cause });
  }
}

function parseNdjson(text: string): unknown[] {
  const lines = text.split("\n");
  // Every line ends with "\n", so the last piece is empty.
  if (lines.at(-1) === "") lines.pop();
  return lines.map((line, i) => {
    try {
      return JSON.parse(line) as unknown;
    } catch (cause) {
      throw new SluiceError("BAD_FRAME", `Line ${i + 1} of a chunk is not JSON`, { cause });
    }
  });
}
