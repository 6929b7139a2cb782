import cliProgress from "cli-progress";

/** A stream the progress line is drawn on; drawn only when it is a TTY. */
export interface ProgressStream extends NodeJS.WritableStream {
  readonly isTTY?: boolean;
}

/** Live export progress: rows, MB and rates. */
export interface Progress {
  update(rows: number, bytes: number): void;
  stop(): void;
}

const FORMAT = "{rows} rows | {mb} MB | {mbps} MB/s | {rps} rows/s | {duration_formatted}";
const MB = 1_000_000;

/** A progress line on `stream` when `enabled` and the stream is a TTY; otherwise does nothing. */
export function createProgress(stream: ProgressStream, enabled: boolean, now = defaultNow): Progress {
  if (!enabled || stream.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const started = now();
  const bar = new cliProgress.SingleBar({ stream, format: FORMAT, hideCursor: true, clearOnComplete: true, fps: 5 });
  bar.start(0, 0, payload(0, 0, 0));
  return {
    update: (rows, bytes) => bar.update(0, payload(rows, bytes, (now() - started) / 1000)),
    stop: () => bar.stop(),
  };
}

/** The line printed once an export has finished, e.g. "12345 rows, 6.2 MB in 1.4 s". */
export function formatSummary(rows: number, bytes: number, seconds: number): string {
  return `${rows} rows, ${(bytes / MB).toFixed(1)} MB in ${seconds.toFixed(1)} s`;
}

function payload(rows: number, bytes: number, seconds: number): Record<string, string> {
  const rate = (value: number): number => (seconds > 0 ? value / seconds : 0);
  return {
    rows: String(rows),
    mb: (bytes / MB).toFixed(1),
    mbps: (rate(bytes) / MB).toFixed(1),
    rps: Math.round(rate(rows)).toString(),
  };
}

function defaultNow(): number {
  return performance.now();
}
