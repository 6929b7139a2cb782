import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { GenericContainer, Wait } from "testcontainers";
import { containerRuntimeStatus } from "./container-runtime.js";
import { DevstackError, reasonOf } from "./errors.js";
import type { ObtainedService } from "./obtained.js";
import { OwnedProcess } from "./owned-process.js";
import { probeNats } from "./probe.js";

/** Image used when a Docker engine is reachable. */
export const NATS_IMAGE = "nats:2.10-alpine";
/** Time nats-server gets to open its client port. Default 30 s. */
export const DEFAULT_NATS_READY_TIMEOUT_MS = 30_000;

export interface NatsOptions {
  /** Use this server as is (it must answer); nothing is started. */
  readonly url?: string;
  /** Try testcontainers when a Docker engine answers. Default true. */
  readonly docker?: boolean;
  /** Fall back to local binaries. Default true. */
  readonly local?: boolean;
  /** JetStream store of a local server; default: a temporary directory removed by stop(). */
  readonly storeDir?: string;
  /** Path of nats-server; default: searched in PATH and the usual places. */
  readonly binary?: string;
  /** Receives each line a locally started server writes. */
  readonly onLine?: (line: string) => void;
}

const INSTALL_ADVICE =
  "Set NATS_URL=nats://host:4222 to use an existing server (JetStream enabled), start a Docker engine " +
  "(testcontainers then runs " + NATS_IMAGE + "), or install nats-server " +
  "(Debian/Ubuntu: sudo apt-get install nats-server; macOS: brew install nats-server; " +
  "or a release from https://github.com/nats-io/nats-server/releases).";

/** Finds nats-server in `binary`, PATH or the usual places; undefined when absent. */
export function findNatsServer(binary?: string): string | undefined {
  if (binary !== undefined) return existsSync(binary) ? binary : undefined;
  // PATH is where a shell would look for the binary; reading it is not service configuration.
  const path = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  const dirs = [...path, "/usr/sbin", "/usr/local/bin", "/opt/homebrew/bin", join(homedir(), "go", "bin")];
  return dirs.map((dir) => join(dir, "nats-server")).find((file) => existsSync(file));
}

async function startContainer(): Promise<ObtainedService> {
  const container = await new GenericContainer(NATS_IMAGE)
    .withCommand(["-js"])
    .withExposedPorts(4222)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .withStartupTimeout(60_000)
    .start();
  const url = `nats://${container.getHost()}:${container.getMappedPort(4222)}`;
  return { url, source: "container", stop: async () => void (await container.stop()) };
}

/** nats-server writes the ports it bound to `<dir>/nats-server_<pid>.ports` once it listens. */
async function readClientUrl(proc: OwnedProcess, portsDir: string, timeoutMs: number): Promise<string> {
  const file = join(portsDir, `nats-server_${proc.pid}.ports`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && proc.state !== "exited") {
    if (existsSync(file)) {
      const ports = JSON.parse(readFileSync(file, "utf8")) as { nats?: string[] };
      const url = ports.nats?.[0];
      if (url) return url;
    }
    await sleep(50);
  }
  const what = proc.state === "exited" ? "nats-server exited during startup" : `nats-server did not start within ${timeoutMs} ms`;
  await proc.stop("SIGKILL");
  throw new DevstackError("NATS_UNAVAILABLE", `${what}:\n${proc.recentOutput()}`);
}

/** Starts nats-server with JetStream on 127.0.0.1 and a port of its own choosing. */
async function startLocal(binary: string, options: NatsOptions): Promise<ObtainedService> {
  const temporary = options.storeDir === undefined ? mkdtempSync(join(tmpdir(), "sluice-nats-")) : undefined;
  const storeDir = options.storeDir ?? join(temporary ?? "", "store");
  mkdirSync(storeDir, { recursive: true });
  const portsDir = mkdtempSync(join(tmpdir(), "sluice-nats-ports-"));
  const removeDirs = (): void => {
    rmSync(portsDir, { recursive: true, force: true });
    if (temporary) rmSync(temporary, { recursive: true, force: true });
  };
  const args = ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", storeDir, "--ports_file_dir", portsDir];
  try {
    const proc = await OwnedProcess.start({
      name: "nats-server",
      command: binary,
      args,
      env: { ...process.env },
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
    const url = await readClientUrl(proc, portsDir, DEFAULT_NATS_READY_TIMEOUT_MS);
    return { url, source: "local", stop: async () => (await proc.stop("SIGTERM"), removeDirs()) };
  } catch (error) {
    removeDirs();
    throw error;
  }
}

/**
 * A NATS server with JetStream for the stack: `url` if given (checked), else a testcontainers
 * nats:2.10-alpine with -js when a Docker engine answers, else a local nats-server on a free port
 * with its own store. Throws NATS_UNAVAILABLE saying what is missing and how to get it.
 */
export async function obtainNats(options: NatsOptions = {}): Promise<ObtainedService> {
  if (options.url !== undefined) {
    const probe = await probeNats(options.url);
    if (!probe.ok) throw new DevstackError("NATS_UNAVAILABLE", `NATS at ${options.url} does not answer: ${probe.reason}`);
    return { url: options.url, source: "given", stop: async () => undefined };
  }
  const reasons: string[] = ["no NATS URL given"];
  if (options.docker ?? true) {
    const runtime = await containerRuntimeStatus();
    if (runtime.available) {
      try {
        return await startContainer();
      } catch (error) {
        reasons.push(`the ${NATS_IMAGE} container failed to start (${reasonOf(error)})`);
      }
    } else {
      reasons.push(`no Docker engine (${runtime.reason})`);
    }
  }
  const unavailable = (): DevstackError =>
    new DevstackError("NATS_UNAVAILABLE", `No NATS available: ${reasons.join("; ")}.\n${INSTALL_ADVICE}`);
  if (options.local === false) {
    reasons.push("local binaries not wanted");
    throw unavailable();
  }
  const binary = findNatsServer(options.binary);
  if (binary === undefined) {
    reasons.push(`no nats-server binary at ${options.binary ?? "PATH, /usr/sbin, /usr/local/bin or ~/go/bin"}`);
    throw unavailable();
  }
  return startLocal(binary, options);
}
