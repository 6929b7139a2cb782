import type { DataEditorRef } from "@glideapps/glide-data-grid";
import { connect, type SluiceClient } from "@sluice/client";
import { useCallback, useEffect, useRef, useState } from "react";
import { indicatorAfter, type Indicator } from "./connection.js";
import { FROZEN_COLUMNS, GridView } from "./grid-view.js";
import { ConnectionBadge, DatasetForm, ErrorBanner, ProgressPanel } from "./panels.js";
import { ResultRun, runError, type RunError, type RunSnapshot } from "./result-run.js";
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

/** Paints once per animation frame at most, however fast chunks arrive. */
function useFrameState<T>(initial: T): [T, (value: T) => void] {
  const [value, setValue] = useState(initial);
  const latest = useRef(initial);
  const frame = useRef<number | undefined>(undefined);
  const set = useCallback((next: T) => {
    latest.current = next;
    frame.current ??= requestAnimationFrame(() => {
      frame.current = undefined;
      setValue(latest.current);
    });
  }, []);
  return [value, set];
}

/** Times, from Start, until the first rows and the whole result were drawn. */
function useTimings(snapshot: RunSnapshot | undefined, startedAt: number): { firstRowsMs?: number; fullGridMs?: number } {
  const [timings, setTimings] = useState<{ firstRowsMs?: number; fullGridMs?: number }>({});
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
  const [indicator, setIndicator] = useState<Indicator>("offline");
  const [error, setError] = useState<RunError | undefined>(undefined);
  const [snapshot, setSnapshot] = useFrameState<RunSnapshot | undefined>(undefined);
  const [startedAt, setStartedAt] = useState(0);
  const client = useRef<SluiceClient | undefined>(undefined);
  const run = useRef<ResultRun | undefined>(undefined);
  const grid = useRef<DataEditorRef>(null);
  const timings = useTimings(snapshot, startedAt);
  const dataset = settings.datasets.find((d) => d.name === datasetName);
  const running = snapshot?.state === "starting" || snapshot?.state === "streaming";

  useEffect(() => {
    // A frozen column is always in view: scrolling "to" it means scrolling to the first one that moves.
    const scrollTo = (column: number, row: number): void =>
      grid.current?.scrollTo(Math.max(column, FROZEN_COLUMNS), row, "both", 0, 0, { hAlign: "start", vAlign: "start" });
    window.sluiceDemo = { scrollTo };
    return () => {
      delete window.sluiceDemo;
      client.current?.close();
    };
  }, []);

  /** The open client, or a new one when there is none or the last gave up reconnecting. */
  const ensureClient = async (): Promise<SluiceClient> => {
    if (client.current !== undefined && client.current.state !== "closed") return client.current;
    setIndicator("connecting");
    const opened = await connect({ url: settings.url, token: settings.token });
    opened.onConnection((event) => setIndicator(indicatorAfter(event)));
    client.current = opened;
    setIndicator("connected");
    return opened;
  };

  const start = async (): Promise<void> => {
    if (dataset === undefined || running) return;
    setError(undefined);
    const params = Object.fromEntries(dataset.params.flatMap((p) => (values[p.name] ? [[p.name, values[p.name] as string]] : [])));
    let opened: SluiceClient;
    try {
      opened = await ensureClient();
    } catch (cause) {
      setIndicator("disconnected");
      setError(runError(cause));
      return;
    }
    setStartedAt(performance.now());
    const current = new ResultRun(opened, dataset.name, params, setSnapshot);
    run.current = current;
    setSnapshot(current.snapshot());
    const final = await current.run();
    if (final.error !== undefined && final.state === "failed") setError(final.error);
  };

  return (
    <div className="demo">
      <header>
        <h1>Sluice</h1>
        <span className="tenant">tenant {settings.tenant}</span>
        <ConnectionBadge indicator={indicator} />
      </header>
      <DatasetForm
        datasets={settings.datasets}
        dataset={dataset}
        values={values}
        running={running}
        onDataset={(name) => {
          setDatasetName(name);
          setValues({});
        }}
        onValue={(name, value) => setValues((v) => ({ ...v, [name]: value }))}
        onStart={() => void start()}
        onCancel={() => void run.current?.cancel()}
      />
      {snapshot === undefined ? null : <ProgressPanel snapshot={snapshot} firstRowsMs={timings.firstRowsMs} fullGridMs={timings.fullGridMs} />}
      {error === undefined ? null : <ErrorBanner error={error} />}
      <main className="grid">{snapshot?.store === undefined ? null : <GridView ref={grid} store={snapshot.store} rows={snapshot.rows} />}</main>
    </div>
  );
}
