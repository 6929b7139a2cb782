import { describe, expect, it } from "vitest";
import { RowStore, rowStarts } from "./row-store.js";

const encoder = new TextEncoder();
const columns = [
  { name: "id", type: "bigint" },
  { name: "t", type: "text" },
];

describe("rowStarts", () => {
  it("rowStarts - finds each line start, and skips line breaks inside quoted fields", () => {
    expect([...rowStarts(encoder.encode("1,a\n22,b\n"), 2)]).toEqual([0, 4, 9]);
    expect([...rowStarts(encoder.encode('1,"x\ny"\n2,""""\n'), 2)]).toEqual([0, 8, 15]);
  });

  it("rowStarts - refuses a chunk whose lines do not number its rows", () => {
    expect(() => rowStarts(encoder.encode("1,a\n2,b\n"), 3)).toThrow(RangeError);
    expect(() => rowStarts(encoder.encode("1,a\n2,b"), 2)).toThrow(RangeError);
  });
});

describe("RowStore", () => {
  it("cells - across chunks, with NULL, empty strings, quotes and multi-byte text", () => {
    const store = new RowStore(columns);
    store.append(encoder.encode('1,\n2,""\n'), 2);
    store.append(encoder.encode('3,"a,""b"""\n'), 1);
    store.append(encoder.encode("4,żółw\n5,\"two\nlines\"\n"), 2);
    expect(store.rows).toBe(5);
    expect(store.bytes).toBe(8 + 12 + 24);
    expect([0, 1, 2, 3, 4].map((r) => store.cell(r, 1))).toEqual([null, "", 'a,"b"', "żółw", "two\nlines"]);
    expect(store.row(4)).toEqual(["5", "two\nlines"]);
    expect(store.cell(5, 0)).toBeUndefined();
    expect(() => store.row(5)).toThrow(RangeError);
  });

  it("cells - decodes again rows dropped from the bounded cache", () => {
    const store = new RowStore(columns, 2);
    store.append(encoder.encode("1,a\n2,b\n3,c\n"), 3);
    expect([0, 1, 2, 0, 2, 1].map((r) => store.cell(r, 1))).toEqual(["a", "b", "c", "a", "c", "b"]);
  });
});
