import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { GenericContainer, Wait } from "testcontainers";
import { containerRuntimeStatus } from "./container-runtime.js";
import { DevstackError, reasonOf } from "./errors.js";
import { freePort } from "./free-port.js";
import { findPostgresBinaries, startLocalPostgres } from "./local-postgres.js";
import type { ObtainedService } from "./obtained.js";
import { probePostgres } from "./probe.js";

/** Image used when a Docker engine is reachable. */
export const POSTGRES_IMAGE = "postgres:16-alpine";
/** Database created for the stack on a started server. Default "sluice". */
export const DEFAULT_DATABASE = "sluice";

export interface PostgresOptions {
  /** Use this server as is (it must answer); nothing is started. */
  readonly url?: string;
  /** Try testcontainers when a Docker engine answers. Default true. */
  readonly docker?: boolean;
  /** Fall back to local binaries. Default true. */
  readonly local?: boolean;
  /** PGDATA for local binaries; default: a temporary directory removed by stop(). */
  readonly dataDir?: string;
  /** Directory of initdb and postgres; default: searched in the usual places. */
  readonly binDir?: string;
  /** Database to create on a started server. Default "sluice". */
  readonly database?: string;
  /** Receives each line a locally started server writes. */
  readonly onLine?: (line: string) => void;
}

const INSTALL_ADVICE =
  "Set DATABASE_URL=postgres://user@host:5432/db to use an existing server, start a Docker engine " +
  "(testcontainers then runs " + POSTGRES_IMAGE + "), or install the PostgreSQL server binaries " +
  "(Debian/Ubuntu: sudo apt-get install postgresql; Fedora: sudo dnf install postgresql-server; " +
  "macOS: brew install postgresql@16).";

/** Replaces the database of a postgres:// URL. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** Creates `database` on the server at `adminUrl` unless it exists. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

async function startContainer(database: string): Promise<ObtainedService> {
  const container = await new GenericContainer(POSTGRES_IMAGE)
    .withEnvironment({ POSTGRES_PASSWORD: "sluice", POSTGRES_DB: database })
    .withExposedPorts(5432)
    // The entrypoint restarts the server once after init: the second "ready" is the real one.
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .withStartupTimeout(120_000)
    .start();
  const url = `postgres://postgres:sluice@${container.getHost()}:${container.getMappedPort(5432)}/${database}`;
  return { url, source: "container", stop: async () => void (await container.stop()) };
}

async function startLocal(options: PostgresOptions, database: string, reasons: string[]): Promise<ObtainedService> {
  const binaries = findPostgresBinaries(options.binDir);
  if (!binaries) {
    reasons.push(`no PostgreSQL server binaries (initdb, postgres) in ${options.binDir ?? "/usr/lib/postgresql/*/bin or PATH"}`);
    throw new DevstackError("POSTGRES_UNAVAILABLE", `No PostgreSQL available: ${reasons.join("; ")}.\n${INSTALL_ADVICE}`);
  }
  const temporary = options.dataDir === undefined ? mkdtempSync(join(tmpdir(), "sluice-pg-")) : undefined;
  // mkdtemp makes it 0700; as root, the postgres user must be able to reach the data directory inside.
  if (temporary) chmodSync(temporary, 0o711);
  const dataDir = options.dataDir ?? join(temporary ?? "", "data");
  const removeTemporary = (): void => {
    if (temporary) rmSync(temporary, { recursive: true, force: true });
  };
  try {
    const port = await freePort("127.0.0.1");
    const server = await startLocalPostgres(binaries, { dataDir, port, ...(options.onLine ? { onLine: options.onLine } : {}) });
    await ensureDatabase(server.url, database).catch(async (error: unknown) => {
      await server.stop();
      throw error;
    });
    return { url: withDatabase(server.url, database), source: "local", stop: async () => (await server.stop(), removeTemporary()) };
  } catch (error) {
    removeTemporary();
    throw error;
  }
}

/**
 * A PostgreSQL server for the stack: `url` if given (checked), else a testcontainers
 * postgres:16-alpine when a Docker engine answers, else local binaries on a free port with data in
 * `dataDir`. Throws POSTGRES_UNAVAILABLE saying what is missing and how to get it.
 */
export async function obtainPostgres(options: PostgresOptions = {}): Promise<ObtainedService> {
  if (options.url !== undefined) {
    const probe = await probePostgres(options.url);
    if (!probe.ok) throw new DevstackError("POSTGRES_UNAVAILABLE", `PostgreSQL at ${redact(options.url)} does not answer: ${probe.reason}`);
    return { url: options.url, source: "given", stop: async () => undefined };
  }
  const database = options.database ?? DEFAULT_DATABASE;
  const reasons: string[] = ["no database URL given"];
  if (options.docker ?? true) {
    const runtime = await containerRuntimeStatus();
    if (runtime.available) {
      try {
        return await startContainer(database);
      } catch (error) {
        reasons.push(`the ${POSTGRES_IMAGE} container failed to start (${reasonOf(error)})`);
      }
    } else {
      reasons.push(`no Docker engine (${runtime.reason})`);
    }
  }
  if (options.local === false) {
    reasons.push("local binaries not wanted");
    throw new DevstackError("POSTGRES_UNAVAILABLE", `No PostgreSQL available: ${reasons.join("; ")}.\n${INSTALL_ADVICE}`);
  }
  return startLocal(options, database, reasons);
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}
