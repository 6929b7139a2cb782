import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { createInterface } from "node:readline";
import { DevstackError } from "./errors.js";

/** Lines of output kept for error messages. Default 40. */
export const DEFAULT_KEPT_LINES = 40;
/** Time a process gets to exit after a stop signal before it is killed. Default 10 s. */
export const DEFAULT_STOP_GRACE_MS = 10_000;

export interface OwnedProcessOptions {
  /** Short name used in messages ("postgres", "edge", "worker-2"). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** The complete environment of the child (nothing is merged in here). */
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Run as this user/group (PostgreSQL refuses to run as root). */
  readonly uid?: number;
  readonly gid?: number;
  /** Receives every line the child writes to stdout or stderr. */
  readonly onLine?: (line: string) => void;
}

type RunState = "running" | "stopping" | "exited";

/**
 * A child process this program started and therefore must end. It runs in its own process group,
 * so a Ctrl-C in the terminal reaches only the parent, which then stops children in order; if the
 * parent exits anyway, the child is sent SIGTERM.
 */
export class OwnedProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code, or 128 + the signal number when a signal ended the process. */
  readonly exited: Promise<number>;
  #state: RunState = "running";
  readonly #lines: string[] = [];
  readonly #onParentExit: () => void;

  private constructor(name: string, child: ChildProcess, pid: number, onLine?: (line: string) => void) {
    this.name = name;
    this.pid = pid;
    this.#onParentExit = () => this.signal("SIGTERM");
    process.on("exit", this.#onParentExit);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => this.#keep(line, onLine));
    }
    child.once("exit", () => {
      this.#state = "exited";
      process.off("exit", this.#onParentExit);
    });
    // "close" comes after "exit" once stdout and stderr are drained, so recentOutput() is complete.
    this.exited = new Promise((resolve) => {
      child.once("close", (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  }

  /** Spawns the process; rejects with PROCESS_FAILED when it cannot be started at all. */
  static start(options: OwnedProcessOptions): Promise<OwnedProcess> {
    const child = spawn(options.command, options.args, {
      env: options.env,
      cwd: options.cwd,
      uid: options.uid,
      gid: options.gid,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new Promise((resolve, reject) => {
      child.once("error", (cause) => {
        reject(new DevstackError("PROCESS_FAILED", `cannot start ${options.name} (${options.command}): ${cause.message}`, { cause }));
      });
      child.once("spawn", () => resolve(new OwnedProcess(options.name, child, child.pid ?? 0, options.onLine)));
    });
  }

  get state(): RunState {
    return this.#state;
  }

  /** The last lines the process wrote, for error messages. */
  recentOutput(): string {
    return this.#lines.join("\n");
  }

  /** Sends a signal unless the process has already exited. */
  signal(signal: NodeJS.Signals): void {
    if (this.#state === "exited") return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already gone between the exit and our bookkeeping: nothing to do.
    }
  }

  /** Sends `signal`, waits up to `graceMs`, then SIGKILL; resolves with the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = DEFAULT_STOP_GRACE_MS): Promise<number> {
    if (this.#state === "exited") return this.exited;
    this.#state = "stopping";
    this.signal(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), graceMs);
    });
    const first = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (first === "late") this.signal("SIGKILL");
    return this.exited;
  }

  #keep(line: string, onLine?: (line: string) => void): void {
    this.#lines.push(line);
    if (this.#lines.length > DEFAULT_KEPT_LINES) this.#lines.shift();
    onLine?.(line);
  }
}
