import { describe, expect, it } from "vitest";
import { SluiceError } from "@sluice/protocol";
import { Chunker } from "./chunker.js";

describe("chunker", () => {
  it("chunker - packs whole lines and never exceeds the chunk size", () => {
    const chunker = new Chunker(4096);
    const chunks: { data: Uint8Array; rows: number }[] = [];
    const lines = Array.from({ length: 500 }, (_, i) => `${i},é${"x".repeat(i % 37)}`);
    for (const line of lines) {
      const full = chunker.add(line);
      if (full) chunks.push({ data: Buffer.from(full.data), rows: full.rows });
    }
    const last = chunker.take();
    if (last) chunks.push(last);
    expect(chunks.every((c) => c.data.length <= 4096)).toBe(true);
    expect(chunks.reduce((n, c) => n + c.rows, 0)).toBe(500);
    expect(Buffer.concat(chunks.map((c) => c.data)).toString("utf8")).toBe(lines.map((l) => `${l}\n`).join(""));
    expect(chunker.take()).toBeUndefined();
  });

  it("chunker - refuses a row that fits in no chunk", () => {
    const chunker = new Chunker(4096);
    expect(() => chunker.add("x".repeat(5000))).toThrow(SluiceError);
  });
});
