import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { demoConfigYaml } from "./demo-config.js";
import { loadDemoData } from "./demo-data.js";
import type { ObtainedService } from "./obtained.js";
import { obtainNats } from "./nats.js";
import { obtainPostgres, redact } from "./postgres.js";
import { assertServiceBuilt, startService, type ServiceProcess } from "./processes.js";

export interface StackOptions {
  /** Repository root (services are started from its built code). */
  readonly root: string;
  /** Holds pg/, nats/, sluice.yaml; the data survives restarts. */
  readonly stateDir: string;
  /** Use these servers instead of starting them. */
  readonly databaseUrl?: string;
  readonly natsUrl?: string;
  readonly jwtSecret: string;
  readonly edgePort: number;
  readonly natsPrefix: string;
  /** Default 2. */
  readonly workers?: number;
  /** Rows per tenant grid; default the demo's 100,000. */
  readonly rows?: number;
  /** Progress for people. */
  readonly say: (message: string) => void;
  /** Every output line of every process started, by process name. */
  readonly onLine: (name: string, line: string) => void;
  /** Aborting stops startup between steps, stopping whatever was started. */
  readonly signal?: AbortSignal;
}

/** A running local stack; stop() ends everything it started, in reverse order. */
export interface Stack {
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly configPath: string;
  readonly edge: ServiceProcess;
  readonly workers: readonly ServiceProcess[];
  stop(): Promise<void>;
}

/** Stoppers run last-in first-out; a failing stopper does not prevent the others. */
class Stoppers {
  readonly #stoppers: (() => Promise<unknown>)[] = [];

  push(stopper: () => Promise<unknown>): void {
    this.#stoppers.push(stopper);
  }

  async stopAll(): Promise<void> {
    for (let stop = this.#stoppers.pop(); stop; stop = this.#stoppers.pop()) await stop().catch(() => undefined);
  }
}

function describe(what: string, service: ObtainedService): string {
  const how = service.source === "given" ? "using" : service.source === "container" ? "started container" : "started local";
  return `${what}: ${how} ${redact(service.url)}`;
}

async function obtainServers(options: StackOptions, stoppers: Stoppers): Promise<[ObtainedService, ObtainedService]> {
  // JetStream data only matters to sessions of the previous run, which are gone: start clean.
  if (options.natsUrl === undefined) rmSync(join(options.stateDir, "nats"), { recursive: true, force: true });
  const [pg, nats] = await Promise.allSettled([
    obtainPostgres({ url: options.databaseUrl, dataDir: join(options.stateDir, "pg"), onLine: (l) => options.onLine("postgres", l) }),
    obtainNats({ url: options.natsUrl, storeDir: join(options.stateDir, "nats"), onLine: (l) => options.onLine("nats-server", l) }),
  ]);
  if (pg.status === "fulfilled") stoppers.push(() => pg.value.stop());
  if (nats.status === "fulfilled") stoppers.push(() => nats.value.stop());
  if (pg.status === "rejected") throw pg.reason;
  if (nats.status === "rejected") throw nats.reason;
  options.say(describe("PostgreSQL", pg.value));
  options.say(describe("NATS", nats.value));
  return [pg.value, nats.value];
}

async function startServices(
  options: StackOptions,
  env: Record<string, string>,
  stoppers: Stoppers,
): Promise<[ServiceProcess, ServiceProcess[]]> {
  const settings = (name: string) => ({ name, root: options.root, onLine: (line: string) => options.onLine(name, line) });
  const edge = await startService("edge", { ...env, SLUICE_EDGE_PORT: String(options.edgePort) }, settings("edge"));
  stoppers.push(() => edge.stop());
  const workers: ServiceProcess[] = [];
  // Registered before the loop so workers started before a failure are stopped too.
  stoppers.push(() => Promise.all(workers.map((w) => w.stop())));
  for (let i = 1; i <= (options.workers ?? 2); i++) {
    workers.push(await startService("worker", env, settings(`worker-${i}`)));
  }
  options.say(`waiting for the edge (port ${options.edgePort}) and ${workers.length} workers to be ready…`);
  await Promise.all([edge.ready, ...workers.map((w) => w.ready)]);
  return [edge, workers];
}

/**
 * Starts the whole local stack: PostgreSQL and NATS (given or started), demo data, the config,
 * one edge and the workers. On failure everything started so far is stopped before rethrowing.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const stoppers = new Stoppers();
  try {
    // Fail before starting servers and loading data, not after.
    assertServiceBuilt("edge", options.root);
    assertServiceBuilt("worker", options.root);
    mkdirSync(options.stateDir, { recursive: true });
    const [pg, nats] = await obtainServers(options, stoppers);
    options.signal?.throwIfAborted();
    await loadDemoData(pg.url, { ...(options.rows === undefined ? {} : { rows: options.rows }), onProgress: options.say });
    options.signal?.throwIfAborted();
    const configPath = join(options.stateDir, "sluice.yaml");
    writeFileSync(configPath, demoConfigYaml());
    const env = {
      NATS_URL: nats.url,
      SLUICE_CONFIG: configPath,
      SLUICE_JWT_SECRET: options.jwtSecret,
      DATABASE_URL: pg.url,
      SLUICE_NATS_PREFIX: options.natsPrefix,
    };
    const [edge, workers] = await startServices(options, env, stoppers);
    options.signal?.throwIfAborted();
    return { databaseUrl: pg.url, natsUrl: nats.url, configPath, edge, workers, stop: () => stoppers.stopAll() };
  } catch (error) {
    await stoppers.stopAll();
    throw error;
  }
}
