import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";

const LOUD_LEVELS = new Set(["warn", "error", "fatal"]);

/** Whether a service's output line deserves the terminal: warnings, errors, and anything not JSON. */
export function isLoudLine(line: string): boolean {
  if (!line.startsWith("{")) return line.trim() !== "";
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level;
    return typeof level === "number" ? level >= 40 : typeof level === "string" && LOUD_LEVELS.has(level.toLowerCase());
  } catch {
    return true;
  }
}

/**
 * One append-only log file per process under `dir` (`edge.log`, `worker-1.log`, …); lines of the
 * `echoed` processes that are warnings or worse are also written to stderr, prefixed by name.
 */
export class LogFiles {
  readonly dir: string;
  readonly #files = new Map<string, WriteStream>();
  readonly #echoed: ReadonlySet<string>;
  readonly #stderr: NodeJS.WritableStream;

  constructor(dir: string, echoed: Iterable<string>, stderr: NodeJS.WritableStream = process.stderr) {
    this.dir = dir;
    this.#echoed = new Set(echoed);
    this.#stderr = stderr;
    mkdirSync(dir, { recursive: true });
  }

  line(name: string, line: string): void {
    let file = this.#files.get(name);
    if (!file) {
      file = createWriteStream(join(this.dir, `${name}.log`), { flags: "a" });
      this.#files.set(name, file);
    }
    file.write(`${line}\n`);
    if (this.#echoed.has(name) && isLoudLine(line)) this.#stderr.write(`[${name}] ${line}\n`);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#files.values()].map((file) => new Promise<void>((resolve) => file.end(resolve))));
    this.#files.clear();
  }
}
