import cliProgress from "cli-progress";

/** A stream the progress line is drawn on; drawn only when it is a TTY. */
export interface ProgressStream extends NodeJS.WritableStream {
  readonly isTTY?: boolean;
}

/** Live export progress: rows, MB and rates. */
export interface Progress {
  /** The database planner's guess at the rows, from the result's meta: shown as a rough percent. */
  estimate(rows: number | undefined): void;
  update(rows: number, bytes: number): void;
  stop(): void;
}

const FORMAT = "{share}{rows} rows | {mb} MB | {mbps} MB/s | {rps} rows/s | {duration_formatted}";
const MB = 1_000_000;

/** A progress line on `stream` when `enabled` and the stream is a TTY; otherwise does nothing. */
export function createProgress(stream: ProgressStream, enabled: boolean, now = defaultNow): Progress {
  if (!enabled || stream.isTTY !== true) return { estimate: () => undefined, update: () => undefined, stop: () => undefined };
  const started = now();
  let estimated: number | undefined;
  const bar = new cliProgress.SingleBar({ stream, format: FORMAT, hideCursor: true, clearOnComplete: true, fps: 5 });
  bar.start(0, 0, payload(0, 0, 0, undefined));
  return {
    estimate: (rows) => (estimated = rows),
    update: (rows, bytes) => bar.update(0, payload(rows, bytes, (now() - started) / 1000, estimated)),
    stop: () => bar.stop(),
  };
}

/** The line printed once an export has finished, e.g. "12345 rows, 6.2 MB in 1.4 s". */
export function formatSummary(rows: number, bytes: number, seconds: number): string {
  return `${rows} rows, ${(bytes / MB).toFixed(1)} MB in ${seconds.toFixed(1)} s`;
}

function payload(rows: number, bytes: number, seconds: number, estimated: number | undefined): Record<string, string> {
  const rate = (value: number): number => (seconds > 0 ? value / seconds : 0);
  // An estimate can be far off: never more than 99 %, and marked as a guess.
  const share = estimated ? `~${Math.min(99, Math.floor((100 * rows) / estimated))}% | ` : "";
  return {
    share,
    rows: String(rows),
    mb: (bytes / MB).toFixed(1),
    mbps: (rate(bytes) / MB).toFixed(1),
    rps: Math.round(rate(rows)).toString(),
  };
}

function defaultNow(): number {
  return performance.now();
}
