import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createProgress } from "./progress.js";

/** A terminal that keeps what is drawn on it. */
function fakeTerminal(): Writable & { isTTY: true; columns: number; drawn: string; cursorTo(): boolean; clearLine(): boolean; moveCursor(): boolean } {
  const terminal = new Writable({
    write(chunk: Buffer, _encoding, done) {
      terminal.drawn += chunk.toString();
      done();
    },
  }) as Writable & { isTTY: true; columns: number; drawn: string; cursorTo(): boolean; clearLine(): boolean; moveCursor(): boolean };
  return Object.assign(terminal, { isTTY: true as const, columns: 200, drawn: "", cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
}

describe("progress line", () => {
  it("progress - rows and MB, plus a rough percent once the planner's estimate is known", () => {
    const terminal = fakeTerminal();
    let clock = 0;
    const progress = createProgress(terminal, true, () => clock);
    progress.estimate(1_000);
    clock = 1_000;
    progress.update(250, 2_000_000);
    progress.stop();
    expect(terminal.drawn).toContain("~25% | 250 rows | 2.0 MB | 2.0 MB/s | 250 rows/s");
  });

  it("progress - no percent without an estimate, and nothing at all when the stream is not a terminal", () => {
    const terminal = fakeTerminal();
    const progress = createProgress(terminal, true, () => 0);
    progress.update(10, 0);
    progress.stop();
    expect(terminal.drawn).toContain("10 rows");
    expect(terminal.drawn).not.toContain("%");
    const pipe = fakeTerminal();
    createProgress(Object.assign(pipe, { isTTY: undefined }), true).update(10, 0);
    expect(pipe.drawn).toBe("");
  });
});
