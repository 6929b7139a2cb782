import { describe, expect, it } from "vitest";
import { decodeChunkFrame, encodeChunkHeader } from "./chunk-frame.js";
import { csvField, csvHeader, parseCsvRows } from "./csv.js";
import { echoName } from "./errors.js";
import { parseClientMessage } from "./messages.js";

describe("chunk frame", () => {
  it("chunk frame - round trips header and payload", () => {
    const header = encodeChunkHeader({ id: "q-1_é", seq: 70_000, rows: 123 });
    const payload = new TextEncoder().encode("a,b\n1,2\n");
    const frame = new Uint8Array([...header, ...payload]);
    const chunk = decodeChunkFrame(frame);
    expect(chunk).toMatchObject({ id: "q-1_é", seq: 70_000, rows: 123 });
    expect(new TextDecoder().decode(chunk?.data)).toBe("a,b\n1,2\n");
  });

  it("chunk frame - rejects truncated or foreign frames", () => {
    expect(decodeChunkFrame(new Uint8Array([1, 1, 0]))).toBeUndefined();
    expect(decodeChunkFrame(new Uint8Array([2, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 65]))).toBeUndefined();
    expect(decodeChunkFrame(new Uint8Array([1, 1, 0, 9, 0, 0, 0, 1, 0, 0, 0, 1, 65]))).toBeUndefined();
  });
});

describe("csv", () => {
  it("csv - quotes like COPY", () => {
    expect(csvField(null)).toBe("");
    expect(csvField("")).toBe('""');
    expect(csvField('a"b')).toBe('"a""b"');
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField("a\nb")).toBe('"a\nb"');
    expect(csvField("\\.", true)).toBe('"\\."');
    expect(csvField("\\.", false)).toBe("\\.");
    expect(csvHeader(["id", "a,b"])).toBe('id,"a,b"\n');
  });

  it("csv - parses NULL, empty, quoted and multi-line fields", () => {
    expect(parseCsvRows('1,,"",x\n"a\nb","q""q",\n')).toEqual([
      ["1", null, "", "x"],
      ["a\nb", 'q"q', null],
    ]);
  });
});

describe("messages", () => {
  it("messages - rejects malformed and unknown frames with a reason", () => {
    expect(parseClientMessage("{")).toEqual({ ok: false, reason: "malformed JSON" });
    expect(parseClientMessage('{"type":"nope"}').ok).toBe(false);
    expect(parseClientMessage('{"type":"ack","id":"a b","seq":1}').ok).toBe(false);
    expect(parseClientMessage('{"type":"query","id":"q","dataset":"d","extra":1}').ok).toBe(false);
    expect(parseClientMessage('{"type":"query","id":"q","dataset":"d","params":{"__proto__":{"x":{}}}}')).toEqual({ ok: false, reason: 'the key "__proto__" is not allowed' });
    expect(parseClientMessage('{"type":"query","id":"q","dataset":"d","params":{"constructor":"x"}}').ok).toBe(true);
    const query = parseClientMessage('{"type":"query","id":"q","dataset":"d"}');
    expect(query).toEqual({ ok: true, value: { type: "query", id: "q", dataset: "d", params: {}, format: "csv" } });
  });
});

describe("errors", () => {
  it("echoName - repeats plain names only", () => {
    expect(echoName("grid_2024.v-1")).toBe('"grid_2024.v-1"');
    expect(echoName("x' union select * from t --")).toBe("(name not shown)");
    expect(echoName("")).toBe("(name not shown)");
    expect(echoName("a".repeat(65))).toBe("(name not shown)");
  });
});
