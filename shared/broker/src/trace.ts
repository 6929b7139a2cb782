import { randomBytes } from "node:crypto";
import { ROOT_CONTEXT, TraceFlags, isSpanContextValid, trace, type SpanContext, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";

/**
 * W3C trace context across NATS: the edge starts (or continues the client's) trace for each
 * request and puts `traceparent` on the request message's headers; the worker takes it from there.
 * Both log the ids, so one request's lines can be found across services and joined to the
 * caller's own traces.
 */
export interface TraceIds {
  /** 32 hex digits, shared by every hop of the request. */
  readonly traceId: string;
  /** 16 hex digits: this hop's own span. */
  readonly spanId: string;
  /** The span this hop continues (the client's, or the edge's for a worker), if any. */
  readonly parentSpanId?: string;
}

const propagator = new W3CTraceContextPropagator();

const setter: TextMapSetter<MsgHdrs> = { set: (carrier, key, value) => carrier.set(key, value) };
const getter: TextMapGetter<MsgHdrs> = {
  get: (carrier, key) => carrier.get(key) || undefined,
  keys: (carrier) => carrier.keys(),
};

function spanContextOf(headers: MsgHdrs): SpanContext | undefined {
  const context = trace.getSpanContext(propagator.extract(ROOT_CONTEXT, headers, getter));
  return context && isSpanContextValid(context) ? context : undefined;
}

/** A new span continuing `parent` (a `traceparent` value), or the root of a new trace. */
export function startSpan(parent?: string | MsgHdrs): TraceIds {
  let parentContext: SpanContext | undefined;
  if (typeof parent === "string") {
    const carrier = natsHeaders();
    carrier.set("traceparent", parent);
    parentContext = spanContextOf(carrier);
  } else if (parent) {
    parentContext = spanContextOf(parent);
  }
  const spanId = randomBytes(8).toString("hex");
  if (!parentContext) return { traceId: randomBytes(16).toString("hex"), spanId };
  return { traceId: parentContext.traceId, spanId, parentSpanId: parentContext.spanId };
}

/** Headers carrying `span` as the parent of the next hop. */
export function traceHeaders(span: TraceIds, headers: MsgHdrs = natsHeaders()): MsgHdrs {
  const context = trace.setSpanContext(ROOT_CONTEXT, { traceId: span.traceId, spanId: span.spanId, traceFlags: TraceFlags.SAMPLED });
  propagator.inject(context, headers, setter);
  return headers;
}

/** Log fields of a span, in the names log pipelines know. */
export function traceFields(span: TraceIds): Record<string, string> {
  return { trace_id: span.traceId, span_id: span.spanId, ...(span.parentSpanId ? { parent_span_id: span.parentSpanId } : {}) };
}
