import { INDICATOR_TEXT, type Indicator } from "./connection.js";
import { progressText } from "./progress.js";
import type { RunError, RunSnapshot } from "./result-run.js";
import type { DatasetInfo } from "./settings.js";

export interface DatasetFormProps {
  readonly datasets: readonly DatasetInfo[];
  readonly dataset: DatasetInfo | undefined;
  readonly values: Readonly<Record<string, string>>;
  readonly running: boolean;
  onDataset(name: string): void;
  onValue(name: string, value: string): void;
  onStart(): void;
  onCancel(): void;
}

/** Dataset choice, one input per parameter (named with its PostgreSQL type), Start and Cancel. */
export function DatasetForm(props: DatasetFormProps): JSX.Element {
  const { dataset } = props;
  return (
    <form
      className="query-form"
      onSubmit={(event) => {
        event.preventDefault();
        props.onStart();
      }}
    >
      <label>
        dataset
        <select name="dataset" value={dataset?.name ?? ""} onChange={(event) => props.onDataset(event.target.value)} disabled={props.running}>
          {props.datasets.map((d) => (
            <option key={d.name} value={d.name}>
              {d.name}
            </option>
          ))}
        </select>
      </label>
      {dataset?.params.map((param) => (
        <label key={param.name}>
          <span>
            {param.name} <span className="type">{param.type}</span>
          </span>
          <input
            name={param.name}
            value={props.values[param.name] ?? ""}
            placeholder={param.required ? "required" : "optional"}
            required={param.required}
            disabled={props.running}
            onChange={(event) => props.onValue(param.name, event.target.value)}
          />
        </label>
      ))}
      <button type="submit" name="start" disabled={props.running || dataset === undefined}>
        Start
      </button>
      <button type="button" name="cancel" disabled={!props.running} onClick={props.onCancel}>
        Cancel
      </button>
    </form>
  );
}

export function ConnectionBadge({ indicator }: { readonly indicator: Indicator }): JSX.Element {
  return (
    <span className={`connection connection-${indicator}`} data-testid="connection" data-state={indicator}>
      {INDICATOR_TEXT[indicator]}
    </span>
  );
}

export interface ProgressPanelProps {
  readonly snapshot: RunSnapshot;
  readonly firstRowsMs: number | undefined;
  readonly fullGridMs: number | undefined;
}

/** The bar fills by percent once a total or the planner's estimate is known; before, it is indeterminate. */
export function ProgressPanel({ snapshot, firstRowsMs, fullGridMs }: ProgressPanelProps): JSX.Element {
  const text = progressText(snapshot);
  const busy = snapshot.state === "starting" || snapshot.state === "streaming";
  return (
    <div
      className={`progress progress-${snapshot.state}`}
      data-testid="progress"
      data-state={snapshot.state}
      data-rows={snapshot.rows}
      data-bytes={snapshot.bytes}
      data-first-rows-ms={firstRowsMs === undefined ? undefined : Math.round(firstRowsMs)}
      data-full-grid-ms={fullGridMs === undefined ? undefined : Math.round(fullGridMs)}
    >
      <div className={`bar${busy && text.percent === undefined ? " bar-indeterminate" : ""}`}>
        <div className="bar-fill" style={{ width: `${text.percent ?? (busy ? 100 : 0)}%` }} />
      </div>
      <span className="state">{snapshot.state}</span>
      <span>{text.rows}</span>
      <span>{text.megabytes}</span>
      <span>{text.rate}</span>
      {text.percent === undefined ? null : (
        <span title={text.estimated ? "of the database planner's estimate" : undefined}>
          {text.estimated ? "~" : ""}
          {text.percent}%
        </span>
      )}
      <span>{(snapshot.elapsedMs / 1000).toFixed(1)} s</span>
    </div>
  );
}

export function ErrorBanner({ error }: { readonly error: RunError }): JSX.Element {
  return (
    <div className="error" role="alert" data-testid="error" data-code={error.code}>
      <code>{error.code}</code> {error.message}
    </div>
  );
}
