import { describe, expect, it } from "vitest";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { startSpan, traceFields, traceHeaders } from "./trace.js";

const CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("trace context", () => {
  it("continues the caller's trace with a span of its own", () => {
    const span = startSpan(CALLER);
    expect(span.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(span.parentSpanId).toBe("00f067aa0ba902b7");
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(span.spanId).not.toBe("00f067aa0ba902b7");
  });

  it("starts a new trace without a caller, or with a malformed or all-zero traceparent", () => {
    for (const parent of [undefined, "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"]) {
      const span = startSpan(parent);
      expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.traceId).not.toBe("00000000000000000000000000000000");
      expect(span.parentSpanId).toBeUndefined();
    }
    expect(startSpan().traceId).not.toBe(startSpan().traceId);
  });

  it("carries a span to the next hop on NATS headers", () => {
    const edge = startSpan(CALLER);
    const headers = traceHeaders(edge);
    expect(headers.get("traceparent")).toBe(`00-${edge.traceId}-${edge.spanId}-01`);
    const worker = startSpan(headers);
    expect(worker).toMatchObject({ traceId: edge.traceId, parentSpanId: edge.spanId });
    expect(traceFields(worker)).toEqual({ trace_id: edge.traceId, span_id: worker.spanId, parent_span_id: edge.spanId });
    // A message without trace headers (an older edge) starts a trace of its own.
    expect(startSpan(natsHeaders()).parentSpanId).toBeUndefined();
  });
});
