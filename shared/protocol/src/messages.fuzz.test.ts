import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_REASON_CHARS, clientMessageSchema, encodeMessage, parseClientMessage, type ClientMessage } from "./messages.js";

/** Fixed seed: a failure found once is found again on every run and machine. */
const SEED = 42;

/** parseClientMessage's contract: a value the schema accepts, or a short reason; never a throw. */
function checkParse(text: string): void {
  const parsed = parseClientMessage(text);
  if (parsed.ok) {
    expect(clientMessageSchema.safeParse(parsed.value).success).toBe(true);
  } else {
    expect(typeof parsed.reason).toBe("string");
    expect(parsed.reason.length).toBeGreaterThan(0);
    expect(parsed.reason.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
  }
}

const requestId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const paramValue = fc.oneof(fc.string({ maxLength: 50 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.constant(null));
const validMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  fc.record({ type: fc.constant("ack" as const), id: requestId, seq: fc.nat() }),
  fc.record({ type: fc.constant("cancel" as const), id: requestId }),
  fc.record({ type: fc.constant("refresh" as const), token: fc.string({ minLength: 1, maxLength: 100 }) }),
  fc.record({
    type: fc.constant("query" as const),
    id: requestId,
    dataset: fc.string({ minLength: 1, maxLength: 128 }),
    params: fc.dictionary(fc.string({ maxLength: 20 }), paramValue, { maxKeys: 5 }),
    format: fc.constantFrom("csv" as const, "ndjson" as const),
  }),
);

/** Objects shaped like client messages, with every field possibly of the wrong type. */
const messageish = fc.record(
  {
    type: fc.oneof(fc.constantFrom("hello", "query", "ack", "cancel", "refresh", "__proto__", "constructor"), fc.anything()),
    id: fc.oneof(requestId, fc.anything()),
    seq: fc.oneof(fc.nat(), fc.double(), fc.anything()),
    v: fc.oneof(fc.constant(1), fc.anything()),
    token: fc.oneof(fc.string(), fc.anything()),
    dataset: fc.anything(),
    params: fc.oneof(fc.dictionary(fc.string(), fc.anything()), fc.anything()),
    format: fc.anything(),
    resume: fc.anything(),
  },
  { requiredKeys: [] },
);

describe("parseClientMessage (property)", () => {
  it("parse - never throws on arbitrary text, including lone surrogates and NUL", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), checkParse), { seed: SEED, numRuns: 2_000 });
  });

  it("parse - never throws on arbitrary bytes read as UTF-8, as the edge reads a frame", () => {
    const decoder = new TextDecoder();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => checkParse(decoder.decode(bytes))), { seed: SEED, numRuns: 2_000 });
  });

  it("parse - never throws on arbitrary JSON values", () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => checkParse(JSON.stringify(value))), { seed: SEED, numRuns: 2_000 });
  });

  it("parse - never throws on message-shaped objects with wrong-typed fields", () => {
    const asJson = messageish.map((value) => {
      try {
        return JSON.stringify(value) ?? "null";
      } catch {
        return "null"; // fc.anything() may make a BigInt, which JSON cannot carry
      }
    });
    fc.assert(fc.property(asJson, checkParse), { seed: SEED, numRuns: 3_000 });
  });

  it("parse - every valid message round trips through encodeMessage", () => {
    fc.assert(
      fc.property(validMessage, (message) => {
        // JSON has no -0: what parses back is what JSON carries.
        const expected = JSON.parse(JSON.stringify(message)) as unknown;
        expect(parseClientMessage(encodeMessage(message))).toEqual({ ok: true, value: expected });
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });

  it("parse - a reason stays short even when the sender's keys are long", () => {
    const parsed = parseClientMessage(JSON.stringify({ type: "ack", id: "a", seq: 1, ["k".repeat(10_000)]: 1 }));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
  });
});
