import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DevstackError } from "./errors.js";
import { freePort } from "./free-port.js";
import { OwnedProcess } from "./owned-process.js";
import { repoRoot } from "./paths.js";

export type ServiceKind = "edge" | "worker";

/** Time a service gets to answer 200 on /readyz. Default 60 s. */
export const DEFAULT_SERVICE_READY_TIMEOUT_MS = 60_000;
/** Time a service gets to drain after SIGTERM before SIGKILL. Default 15 s. */
export const DEFAULT_SERVICE_STOP_GRACE_MS = 15_000;

/** The environment variable that sets each service's HTTP (and, for the edge, websocket) port. */
export const SERVICE_PORT_VARIABLES: Readonly<Record<ServiceKind, string>> = Object.freeze({
  edge: "SLUICE_EDGE_PORT",
  worker: "SLUICE_WORKER_PORT",
});

export interface StartServiceOptions {
  /** Name in messages; default the kind. */
  readonly name?: string;
  /** Receives each line (JSON log lines, normally) the service writes to stdout or stderr. */
  readonly onLine?: (line: string) => void;
  /** Default DEFAULT_SERVICE_READY_TIMEOUT_MS. */
  readonly readyTimeoutMs?: number;
  /** Repository root holding services/<kind>/dist/main.js; default found from this package. */
  readonly root?: string;
}

/** A running edge or worker process. */
export interface ServiceProcess {
  readonly kind: ServiceKind;
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** Resolves once GET /readyz answers 200; rejects if the process exits or the timeout passes. */
  readonly ready: Promise<void>;
  /** Resolves with the exit code (128 + signal number when a signal ended it). */
  readonly exited: Promise<number>;
  /** Sends `signal` (default SIGTERM), SIGKILL after the grace period; resolves with the exit code. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number>;
  /** SIGKILL now, as a crash would. */
  kill(): void;
  /** The last lines the service wrote. */
  recentOutput(): string;
}

/** Path of a service's built entry point under the repository root. */
export function serviceEntry(kind: ServiceKind, root: string = repoRoot()): string {
  return join(root, "services", kind, "dist", "main.js");
}

/** Throws SERVICE_NOT_BUILT unless the service's entry point exists. */
export function assertServiceBuilt(kind: ServiceKind, root: string = repoRoot()): string {
  const main = serviceEntry(kind, root);
  if (!existsSync(main)) {
    throw new DevstackError("SERVICE_NOT_BUILT", `${main} does not exist: build the services first (npm run build)`);
  }
  return main;
}

async function waitReady(proc: OwnedProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const url = `http://127.0.0.1:${port}/readyz`;
  while (proc.state !== "exited") {
    const status = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      async (response) => (await response.arrayBuffer(), response.status),
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) {
      const what = `${proc.name} (pid ${proc.pid}) did not answer 200 on ${url} within ${timeoutMs} ms`;
      throw new DevstackError("SERVICE_NOT_READY", `${what}:\n${proc.recentOutput()}`);
    }
    await sleep(100);
  }
  const code = await proc.exited;
  throw new DevstackError("SERVICE_EXITED", `${proc.name} exited with code ${code} before it was ready:\n${proc.recentOutput()}`);
}

/**
 * Starts `node services/<kind>/dist/main.js` with `env` merged over this process's environment.
 * The port comes from SLUICE_EDGE_PORT / SLUICE_WORKER_PORT in `env`, or is a free one passed in it.
 */
export async function startService(
  kind: ServiceKind,
  env: Readonly<Record<string, string | undefined>>,
  options: StartServiceOptions = {},
): Promise<ServiceProcess> {
  const root = options.root ?? repoRoot();
  const main = assertServiceBuilt(kind, root);
  const portVariable = SERVICE_PORT_VARIABLES[kind];
  const given = env[portVariable];
  const port = given !== undefined && given !== "" ? Number(given) : await freePort();
  const proc = await OwnedProcess.start({
    name: options.name ?? kind,
    command: process.execPath,
    args: [main],
    env: { ...process.env, ...env, [portVariable]: String(port) },
    cwd: root,
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
  const ready = waitReady(proc, port, options.readyTimeoutMs ?? DEFAULT_SERVICE_READY_TIMEOUT_MS);
  // Callers that never await `ready` must not crash the process with an unhandled rejection.
  ready.catch(() => undefined);
  return {
    kind,
    name: proc.name,
    pid: proc.pid,
    port,
    ready,
    exited: proc.exited,
    stop: (signal = "SIGTERM", graceMs = DEFAULT_SERVICE_STOP_GRACE_MS) => proc.stop(signal, graceMs),
    kill: () => proc.signal("SIGKILL"),
    recentOutput: () => proc.recentOutput(),
  };
}
