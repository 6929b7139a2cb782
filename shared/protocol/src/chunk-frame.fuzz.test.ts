import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeChunkFrame, encodeChunkHeader } from "./chunk-frame.js";

const SEED = 42;
const U32 = 0xffff_ffff;

/** Ids as the encoder takes them: any non-empty string whose UTF-8 fits the u16 length. */
const id = fc.string({ unit: "grapheme", minLength: 1, maxLength: 64 });
const header = fc.record({ id, seq: fc.integer({ min: 0, max: U32 }), rows: fc.integer({ min: 0, max: U32 }) });

function frameOf(head: Uint8Array, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(head.length + payload.length);
  frame.set(head);
  frame.set(payload, head.length);
  return frame;
}

describe("chunk frame (property)", () => {
  it("chunk frame - any header and payload round trip", () => {
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 512 }), (h, payload) => {
        const chunk = decodeChunkFrame(frameOf(encodeChunkHeader(h), payload));
        expect(chunk).toBeDefined();
        expect({ id: chunk?.id, seq: chunk?.seq, rows: chunk?.rows }).toEqual(h);
        expect(Buffer.from(chunk?.data ?? []).equals(Buffer.from(payload))).toBe(true);
      }),
      { seed: SEED, numRuns: 2_000 },
    );
  });

  it("chunk frame - a frame cut inside its header or id is rejected, never misread", () => {
    fc.assert(
      fc.property(header, fc.nat(), (h, cut) => {
        const head = encodeChunkHeader(h);
        const truncated = head.subarray(0, cut % head.length);
        expect(decodeChunkFrame(truncated)).toBeUndefined();
      }),
      { seed: SEED, numRuns: 2_000 },
    );
  });

  it("chunk frame - arbitrary bytes never throw: undefined, or a chunk consistent with the bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const chunk = decodeChunkFrame(bytes);
        if (chunk === undefined) return;
        const idBytes = new TextEncoder().encode(chunk.id);
        expect(bytes[0]).toBe(1);
        expect(bytes[1]).toBe(1);
        expect(idBytes.length).toBeGreaterThan(0);
        expect(12 + idBytes.length + chunk.data.length).toBe(bytes.length);
      }),
      { seed: SEED, numRuns: 5_000 },
    );
  });

  it("chunk frame - another version or kind byte is rejected", () => {
    fc.assert(
      fc.property(header, fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 255 }), (h, at, value) => {
        fc.pre(value !== 1);
        const frame = frameOf(encodeChunkHeader(h), new Uint8Array([10]));
        frame[at] = value;
        expect(decodeChunkFrame(frame)).toBeUndefined();
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });

  it("chunk frame - an id that is not UTF-8 is rejected", () => {
    const frame = frameOf(encodeChunkHeader({ id: "ab", seq: 1, rows: 1 }), new Uint8Array());
    frame[12] = 0xff;
    expect(decodeChunkFrame(frame)).toBeUndefined();
  });
});
