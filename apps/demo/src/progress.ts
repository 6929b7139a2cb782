/** What a running or finished result has delivered so far. */
export interface ProgressFigures {
  readonly rows: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  /** Rows in the whole result, known once the end frame came. */
  readonly totalRows: number | undefined;
  /** The database planner's guess at the total, from the meta frame; can be far off. */
  readonly estimatedRows: number | undefined;
}

/** The figures as the progress bar shows them. */
export interface ProgressText {
  readonly rows: string;
  readonly megabytes: string;
  readonly rate: string;
  /** 0-100, or undefined when neither a total nor an estimate is known: no percent then. */
  readonly percent: number | undefined;
  /** True while the percent rests on the planner's estimate, not on the end frame's total. */
  readonly estimated: boolean;
}

const MB = 1_000_000;
const numberFormat = new Intl.NumberFormat("en-US");

export function progressText(figures: ProgressFigures): ProgressText {
  const seconds = figures.elapsedMs / 1000;
  const perSecond = (value: number): number => (seconds > 0 ? value / seconds : 0);
  const rate = `${numberFormat.format(Math.round(perSecond(figures.rows)))} rows/s, ${(perSecond(figures.bytes) / MB).toFixed(1)} MB/s`;
  const text = { rows: `${numberFormat.format(figures.rows)} rows`, megabytes: `${(figures.bytes / MB).toFixed(1)} MB`, rate };
  if (figures.totalRows !== undefined) {
    const percent = figures.totalRows === 0 ? 100 : (100 * figures.rows) / figures.totalRows;
    return { ...text, percent: Math.min(100, Math.round(percent)), estimated: false };
  }
  if (figures.estimatedRows !== undefined && figures.estimatedRows > 0) {
    // An estimate is never 100 %: only the end frame says the result is complete.
    return { ...text, percent: Math.min(99, Math.floor((100 * figures.rows) / figures.estimatedRows)), estimated: true };
  }
  return { ...text, percent: undefined, estimated: false };
}
