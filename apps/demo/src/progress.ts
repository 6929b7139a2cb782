/** What a running or finished result has delivered so far. */
export interface ProgressFigures {
  readonly rows: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  /** Rows in the whole result, when known; the protocol gives it only with the end frame. */
  readonly totalRows: number | undefined;
}

/** The figures as the progress bar shows them. */
export interface ProgressText {
  readonly rows: string;
  readonly megabytes: string;
  readonly rate: string;
  /** 0-100, or undefined when no total is known: the bar then shows no percent. */
  readonly percent: number | undefined;
}

const MB = 1_000_000;
const numberFormat = new Intl.NumberFormat("en-US");

export function progressText(figures: ProgressFigures): ProgressText {
  const seconds = figures.elapsedMs / 1000;
  const perSecond = (value: number): number => (seconds > 0 ? value / seconds : 0);
  const percent = figures.totalRows === undefined ? undefined : figures.totalRows === 0 ? 100 : (100 * figures.rows) / figures.totalRows;
  return {
    rows: `${numberFormat.format(figures.rows)} rows`,
    megabytes: `${(figures.bytes / MB).toFixed(1)} MB`,
    rate: `${numberFormat.format(Math.round(perSecond(figures.rows)))} rows/s, ${(perSecond(figures.bytes) / MB).toFixed(1)} MB/s`,
    percent: percent === undefined ? undefined : Math.min(100, Math.round(percent)),
  };
}
