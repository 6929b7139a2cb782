import type { DataEditorRef } from "@glideapps/glide-data-grid";
import { useEffect, useRef, useState } from "react";
import { FROZEN_COLUMNS, GridView } from "./grid-view.js";
import { ConnectionBadge, DatasetForm, ErrorBanner, ProgressPanel } from "./panels.js";
import { useQueryRunner } from "./query-runner.js";
import type { RunSnapshot } from "./result-run.js";
import type { DemoSettings } from "./settings.js";

/** What the page offers scripts that drive it (a browser test, a console user). */
export interface DemoHandle {
  /** Scrolls the grid so that cell (`column`, `row`) is at its top left. */
  scrollTo(column: number, row: number): void;
}

declare global {
  interface Window {
    sluiceDemo?: DemoHandle;
  }
}

interface Timings {
  readonly firstRowsMs?: number;
  readonly fullGridMs?: number;
}

/** Times from Start until the first rows, and then the whole result, were drawn. */
function useTimings(snapshot: RunSnapshot | undefined, startedAt: number): Timings {
  const [timings, setTimings] = useState<Timings>({});
  useEffect(() => setTimings({}), [startedAt]);
  const rowsShown = (snapshot?.rows ?? 0) > 0;
  const done = snapshot?.state === "done";
  useEffect(() => {
    if (!rowsShown || timings.firstRowsMs !== undefined) return;
    // The frame after the one React committed in: the grid has drawn the rows by then.
    const frame = requestAnimationFrame(() => setTimings((t) => ({ ...t, firstRowsMs: t.firstRowsMs ?? performance.now() - startedAt })));
    return () => cancelAnimationFrame(frame);
  }, [rowsShown, startedAt, timings.firstRowsMs]);
  useEffect(() => {
    if (!done || timings.fullGridMs !== undefined) return;
    const frame = requestAnimationFrame(() => setTimings((t) => ({ ...t, fullGridMs: t.fullGridMs ?? performance.now() - startedAt })));
    return () => cancelAnimationFrame(frame);
  }, [done, startedAt, timings.fullGridMs]);
  return timings;
}

export function App({ settings }: { readonly settings: DemoSettings }): JSX.Element {
  const [datasetName, setDatasetName] = useState(settings.datasets[0]?.name ?? "");
  const [values, setValues] = useState<Record<string, string>>({});
  const runner = useQueryRunner(settings);
  const { snapshot } = runner;
  const timings = useTimings(snapshot, runner.startedAt);
  const grid = useRef<DataEditorRef>(null);
  const dataset = settings.datasets.find((d) => d.name === datasetName);

  useEffect(() => {
    // A frozen column is always in view: scrolling "to" it means scrolling to the first one that moves.
    const scrollTo = (column: number, row: number): void =>
      grid.current?.scrollTo(Math.max(column, FROZEN_COLUMNS), row, "both", 0, 0, { hAlign: "start", vAlign: "start" });
    window.sluiceDemo = { scrollTo };
    return () => {
      delete window.sluiceDemo;
    };
  }, []);

  const start = (): void => {
    if (dataset === undefined) return;
    // Empty inputs are left out: an optional parameter then binds NULL.
    const params = Object.fromEntries(dataset.params.flatMap((p) => (values[p.name] ? [[p.name, values[p.name] as string]] : [])));
    void runner.start(dataset.name, params);
  };

  return (
    <div className="demo">
      <header>
        <h1>Sluice</h1>
        <span className="tenant">tenant {settings.tenant}</span>
        <ConnectionBadge indicator={runner.indicator} />
      </header>
      <DatasetForm
        datasets={settings.datasets}
        dataset={dataset}
        values={values}
        running={runner.running}
        onDataset={(name) => {
          setDatasetName(name);
          setValues({});
        }}
        onValue={(name, value) => setValues((v) => ({ ...v, [name]: value }))}
        onStart={start}
        onCancel={runner.cancel}
      />
      {snapshot === undefined ? null : <ProgressPanel snapshot={snapshot} firstRowsMs={timings.firstRowsMs} fullGridMs={timings.fullGridMs} />}
      {runner.error === undefined ? null : <ErrorBanner error={runner.error} />}
      <main className="grid">{snapshot?.store === undefined ? null : <GridView ref={grid} store={snapshot.store} rows={snapshot.rows} />}</main>
    </div>
  );
}
