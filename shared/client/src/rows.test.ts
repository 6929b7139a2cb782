import { describe, expect, it } from "vitest";
import { decodeRows } from "./rows.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const fatal = (): TextDecoder => new TextDecoder("utf-8", { fatal: true });

describe("decodeRows", () => {
  it("csv - keeps NULL and empty string apart, and multi-byte text intact", () => {
    expect(decodeRows("csv", bytes('1,,""\n2,"é,ü",✓\n'), fatal())).toEqual([
      ["1", null, ""],
      ["2", "é,ü", "✓"],
    ]);
  });

  it("ndjson - parses one value per line", () => {
    expect(decodeRows("ndjson", bytes('{"a":1}\n[2]\nnull\n'), fatal())).toEqual([{ a: 1 }, [2], null]);
  });

  it("errors - a line that is not JSON is BAD_FRAME", () => {
    expect(() => decodeRows("ndjson", bytes('{"a":1}\n{oops\n'), fatal())).toThrow(expect.objectContaining({ code: "BAD_FRAME" }));
  });

  it("errors - an unterminated quoted CSV field is BAD_FRAME", () => {
    expect(() => decodeRows("csv", bytes('1,"open\n'), fatal())).toThrow(expect.objectContaining({ code: "BAD_FRAME" }));
  });

  it("errors - bytes that are not UTF-8 are BAD_FRAME", () => {
    expect(() => decodeRows("csv", new Uint8Array([0x31, 0xff, 0x0a]), fatal())).toThrow(expect.objectContaining({ code: "BAD_FRAME" }));
  });
});
