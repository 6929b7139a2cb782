import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { once } from "node:events";
import type { Writable } from "node:stream";

/**
 * Where an export goes. `write` resolves once the destination can take more, so a slow disk or
 * pipe slows the export; `commit` makes the result visible, `discard` drops it.
 */
export interface Output {
  write(data: Uint8Array | string): Promise<void>;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/**
 * Opens `path` for an export, or `stdout` when no path is given. A file is written under a
 * temporary name in the same directory and renamed on commit, so a failed export never leaves a
 * truncated file under the final name.
 */
export async function openOutput(path: string | undefined, stdout: Writable): Promise<Output> {
  if (path === undefined) return new StreamOutput(stdout);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString("hex")}.partial`);
  // flush: fsync before close, so that what gets renamed is on disk.
  const file = createWriteStream(temp, { flags: "wx", flush: true });
  await once(file, "open");
  return new FileOutput(file, temp, path);
}

class StreamOutput implements Output {
  readonly #stream: Writable;
  #error: Error | undefined;

  constructor(stream: Writable) {
    this.#stream = stream;
    // Kept so an error (EPIPE, ENOSPC) between writes fails the next write instead of crashing.
    stream.on("error", (error: Error) => {
      this.#error ??= error;
    });
  }

  protected get stream(): Writable {
    return this.#stream;
  }

  async write(data: Uint8Array | string): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    if (!this.#stream.write(data)) await once(this.#stream, "drain");
  }

  async commit(): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    if (this.#stream.writableNeedDrain) await once(this.#stream, "drain");
  }

  async discard(): Promise<void> {
    // Standard output stays open: the process may still write its error message.
  }
}

class FileOutput extends StreamOutput {
  readonly #temp: string;
  readonly #path: string;

  constructor(file: Writable, temp: string, path: string) {
    super(file);
    this.#temp = temp;
    this.#path = path;
  }

  override async commit(): Promise<void> {
    await super.commit();
    const closed = once(this.stream, "close");
    this.stream.end();
    await closed;
    await rename(this.#temp, this.#path);
  }

  override async discard(): Promise<void> {
    if (!this.stream.destroyed) {
      const closed = once(this.stream, "close");
      this.stream.destroy();
      await closed.catch(() => undefined);
    }
    await rm(this.#temp, { force: true });
  }
}
