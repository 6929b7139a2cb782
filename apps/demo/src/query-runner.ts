import { connect, type SluiceClient } from "@sluice/client";
import type { ParamValue } from "@sluice/protocol";
import { useCallback, useEffect, useRef, useState } from "react";
import { indicatorAfter, type Indicator } from "./connection.js";
import { ResultRun, runError, type RunError, type RunSnapshot } from "./result-run.js";
import type { DemoSettings } from "./settings.js";

/** The page's one connection and its current run, as React state. */
export interface QueryRunner {
  readonly indicator: Indicator;
  /** The last coded error: of connecting, or of the run. */
  readonly error: RunError | undefined;
  readonly snapshot: RunSnapshot | undefined;
  /** performance.now() when Start was pressed. */
  readonly startedAt: number;
  readonly running: boolean;
  start(dataset: string, params: Readonly<Record<string, ParamValue>>): Promise<void>;
  cancel(): void;
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

/**
 * Connects on the first Start (and again after a connection that gave up), runs one query at a
 * time, and follows the connection through the SDK's events. Closes the connection on unmount.
 */
export function useQueryRunner(settings: DemoSettings): QueryRunner {
  const [indicator, setIndicator] = useState<Indicator>("offline");
  const [error, setError] = useState<RunError | undefined>(undefined);
  const [snapshot, setSnapshot] = useFrameState<RunSnapshot | undefined>(undefined);
  const [startedAt, setStartedAt] = useState(0);
  const client = useRef<SluiceClient | undefined>(undefined);
  const run = useRef<ResultRun | undefined>(undefined);
  /** Set from Start until the run settles: a second click before the page repaints is ignored. */
  const busy = useRef(false);
  const running = snapshot?.state === "starting" || snapshot?.state === "streaming";

  useEffect(() => () => client.current?.close(), []);

  const ensureClient = async (): Promise<SluiceClient> => {
    if (client.current !== undefined && client.current.state !== "closed") return client.current;
    setIndicator("connecting");
    const opened = await connect({ url: settings.url, token: settings.token });
    opened.onConnection((event) => setIndicator(indicatorAfter(event)));
    client.current = opened;
    setIndicator("connected");
    return opened;
  };

  const start = async (dataset: string, params: Readonly<Record<string, ParamValue>>): Promise<void> => {
    if (busy.current) return;
    busy.current = true;
    setStartedAt(performance.now());
    setError(undefined);
    try {
      const opened = await ensureClient();
      const current = new ResultRun(opened, dataset, params, setSnapshot);
      run.current = current;
      setSnapshot(current.snapshot());
      const final = await current.run();
      if (final.state === "failed") setError(final.error);
    } catch (cause) {
      // Connecting failed (a run settles with its state instead of throwing).
      if (client.current?.state !== "open") setIndicator("disconnected");
      setError(runError(cause));
    } finally {
      busy.current = false;
    }
  };

  return { indicator, error, snapshot, startedAt, running, start, cancel: () => void run.current?.cancel() };
}
