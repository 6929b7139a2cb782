import type { Writable } from "node:stream";
import { connect, type QueryStream, type WebSocketConstructor } from "@sluice/client";
import { SluiceError, csvHeader, type Format } from "@sluice/protocol";
import { openOutput, type Output } from "./output.js";
import { createProgress, formatSummary, type Progress, type ProgressStream } from "./progress.js";

export interface ExportOptions {
  dataset: string;
  /** Parameter values as strings; the server converts them by the dataset's declared types. */
  params: Record<string, string>;
  /** Edge websocket URL. */
  url: string;
  token: string;
  format: Format;
  /** Output file; undefined writes to standard output. */
  out?: string;
  /** No progress line and no summary. Default false. */
  quiet?: boolean;
}

/** What an export runs against; main.ts passes the process's own. */
export interface ExportIo {
  stdout: Writable;
  stderr: ProgressStream;
  WebSocket: WebSocketConstructor;
  /** Aborting cancels the query; the output file is discarded. */
  signal?: AbortSignal;
}

export interface ExportSummary {
  rows: number;
  /** Bytes written, the CSV header included. */
  bytes: number;
  seconds: number;
}

/**
 * Streams a dataset to a file or standard output. CSV output is the header line followed by
 * the chunks' bytes verbatim, so it is byte-identical to COPY … CSV HEADER. Each chunk is written
 * (and its drain awaited) before the next is asked for, so the destination's speed drives the
 * stream. Fails with the query's SluiceError; a file output is then discarded.
 */
export async function exportCommand(options: ExportOptions, io: ExportIo): Promise<ExportSummary> {
  const started = performance.now();
  const output = await openOutput(options.out, io.stdout);
  const progress = createProgress(io.stderr, options.quiet !== true);
  let totals: Totals;
  try {
    totals = await runQuery(options, io, output, progress);
    await output.commit();
  } catch (error) {
    await output.discard();
    throw error;
  } finally {
    progress.stop();
  }
  const summary = { rows: totals.rows, bytes: totals.bytes, seconds: (performance.now() - started) / 1000 };
  if (options.quiet !== true) io.stderr.write(`sluice: ${formatSummary(summary.rows, summary.bytes, summary.seconds)}\n`);
  return summary;
}

interface Totals {
  rows: number;
  chunks: number;
  bytes: number;
}

async function runQuery(options: ExportOptions, io: ExportIo, output: Output, progress: Progress): Promise<Totals> {
  const client = await connect({ url: options.url, token: options.token, WebSocket: io.WebSocket });
  const stream = client.query(options.dataset, options.params, { format: options.format });
  const cancel = (): void => void stream.cancel();
  io.signal?.addEventListener("abort", cancel, { once: true });
  if (io.signal?.aborted === true) cancel();
  try {
    return await copy(stream, output, progress);
  } finally {
    io.signal?.removeEventListener("abort", cancel);
    client.close();
  }
}

async function copy(stream: QueryStream, output: Output, progress: Progress): Promise<Totals> {
  const totals: Totals = { rows: 0, chunks: 0, bytes: 0 };
  const meta = await stream.meta;
  progress.estimate(meta.estimatedRows);
  if (meta.format === "csv") {
    const header = new TextEncoder().encode(csvHeader(meta.columns.map((c) => c.name)));
    await output.write(header);
    totals.bytes += header.length;
  }
  for await (const chunk of stream) {
    await output.write(chunk.data);
    totals.rows += chunk.rows;
    totals.chunks += 1;
    totals.bytes += chunk.data.length;
    progress.update(totals.rows, totals.bytes);
  }
  const end = await stream.result;
  if (end.rows !== totals.rows || end.chunks !== totals.chunks) {
    throw new SluiceError(
      "INTERNAL",
      `Received ${totals.rows} rows in ${totals.chunks} chunks but the server sent ${end.rows} in ${end.chunks}`,
    );
  }
  return totals;
}
