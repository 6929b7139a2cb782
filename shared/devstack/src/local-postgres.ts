import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DevstackError } from "./errors.js";
import type { ObtainedService } from "./obtained.js";
import { OwnedProcess } from "./owned-process.js";
import { probePostgres } from "./probe.js";

/** Time PostgreSQL gets to accept connections after start. Default 60 s. */
export const DEFAULT_PG_READY_TIMEOUT_MS = 60_000;

/** Unix socket paths longer than this fail to bind (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 100;

export interface LocalPostgresOptions {
  /** PGDATA; initialised when it holds no cluster yet, reused otherwise. */
  readonly dataDir: string;
  readonly port: number;
  /** Directory holding initdb and postgres; default: searched (see findPostgresBinaries). */
  readonly binDir?: string;
  readonly readyTimeoutMs?: number;
  readonly onLine?: (line: string) => void;
}

/** The server binaries a local cluster needs. */
export interface PostgresBinaries {
  readonly initdb: string;
  readonly postgres: string;
}

/** The user PostgreSQL runs as: ourselves, or the `postgres` OS user when we are root. */
interface RunAs {
  readonly uid?: number;
  readonly gid?: number;
}

/** Where distributions install the server binaries, newest major version first. */
function candidateBinDirs(): string[] {
  const debian = "/usr/lib/postgresql";
  const versions = existsSync(debian)
    ? readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    : [];
  // PATH is where a shell would look for the binaries; reading it is not service configuration.
  const path = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  return [
    ...versions.map((v) => join(debian, v, "bin")),
    ...path,
    "/usr/local/pgsql/bin",
    "/opt/homebrew/bin",
    "/usr/local/bin",
    "/usr/pgsql-16/bin",
    "/usr/pgsql-15/bin",
  ];
}

/** Finds initdb and postgres side by side, in `binDir` or the usual places; undefined when absent. */
export function findPostgresBinaries(binDir?: string): PostgresBinaries | undefined {
  for (const dir of binDir === undefined ? candidateBinDirs() : [binDir]) {
    const initdb = join(dir, "initdb");
    const postgres = join(dir, "postgres");
    if (existsSync(initdb) && existsSync(postgres)) return { initdb, postgres };
  }
  return undefined;
}

/** PostgreSQL refuses to run as root, so root runs it as the `postgres` OS user. */
function runAs(): RunAs {
  if (process.getuid?.() !== 0) return {};
  try {
    const id = (flag: string): number => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch (cause) {
    throw new DevstackError(
      "POSTGRES_UNAVAILABLE",
      "PostgreSQL refuses to run as root and there is no `postgres` OS user to run it as: " +
        "create one (apt-get install postgresql does) or run as a normal user, or set DATABASE_URL",
      { cause },
    );
  }
}

/** Creates the data directory owned by the user PostgreSQL runs as, with the mode it demands. */
function prepareDataDir(dataDir: string, user: RunAs): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (user.uid !== undefined && user.gid !== undefined) chownSync(dataDir, user.uid, user.gid);
}

function failure(what: string, dataDir: string, output: string, cause?: unknown): DevstackError {
  const hint =
    process.getuid?.() === 0 ? `\n(as root, every parent directory of ${dataDir} must be searchable by the postgres user)` : "";
  return new DevstackError("POSTGRES_UNAVAILABLE", `${what} (data directory ${dataDir}):\n${output}${hint}`, { cause });
}

async function initdb(binaries: PostgresBinaries, dataDir: string, user: RunAs): Promise<void> {
  const args = ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"];
  const env = { ...process.env, LC_ALL: "C" };
  const proc = await OwnedProcess.start({ name: "initdb", command: binaries.initdb, args, env, cwd: dataDir, ...user });
  const code = await proc.exited;
  if (code !== 0) throw failure(`initdb failed with exit code ${code}`, dataDir, proc.recentOutput());
}

/** Polls until the server answers, failing early when the process exits. */
async function waitReady(proc: OwnedProcess, url: string, dataDir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw failure("postgres exited during startup", dataDir, proc.recentOutput());
    const probe = await probePostgres(url, 1_000);
    if (probe.ok) return;
    if (Date.now() > deadline) {
      await proc.stop("SIGQUIT", 5_000);
      throw failure(`postgres did not accept connections within ${timeoutMs} ms`, dataDir, proc.recentOutput());
    }
    await sleep(200);
  }
}

/**
 * Starts PostgreSQL from local binaries on 127.0.0.1:`port`, initialising `dataDir` first when
 * it holds no cluster. The socket directory is the data directory itself, so nothing needs
 * write access to /var/run/postgresql. Resolves with the `postgres` database URL.
 */
export async function startLocalPostgres(binaries: PostgresBinaries, options: LocalPostgresOptions): Promise<ObtainedService> {
  const { dataDir, port } = options;
  const user = runAs();
  prepareDataDir(dataDir, user);
  if (!existsSync(join(dataDir, "PG_VERSION"))) await initdb(binaries, dataDir, user);
  const socketDir = join(dataDir, `.s.PGSQL.${port}`).length <= MAX_SOCKET_PATH ? dataDir : "";
  const args = ["-D", dataDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${socketDir}`];
  const proc = await OwnedProcess.start({
    name: "postgres",
    command: binaries.postgres,
    args,
    env: { ...process.env, LC_ALL: "C" },
    cwd: dataDir,
    ...user,
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitReady(proc, url, dataDir, options.readyTimeoutMs ?? DEFAULT_PG_READY_TIMEOUT_MS);
  return {
    url,
    source: "local",
    // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
    stop: async () => void (await proc.stop("SIGINT", 30_000)),
  };
}
