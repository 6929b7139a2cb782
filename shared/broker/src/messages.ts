import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { z } from "zod";
import { columnSchema, errorCodeList, formatSchema, paramValueSchema, requestIdSchema } from "@sluice/protocol";

/** A query request as the edge publishes it for the workers. */
export const requestMessageSchema = z.strictObject({
  v: z.literal(1),
  key: z.string(),
  id: requestIdSchema,
  session: z.string(),
  tenant: z.string(),
  subject: z.string(),
  dataset: z.string(),
  params: z.record(z.string(), paramValueSchema),
  format: formatSchema,
});
export type RequestMessage = z.infer<typeof requestMessageSchema>;

/** What a message on a request's result subject is. */
export type ResultKind = "meta" | "chunk" | "end" | "error";

export const resultMetaSchema = z.strictObject({ format: formatSchema, columns: z.array(columnSchema) });
export const resultEndSchema = z.strictObject({
  rows: z.number().int().nonnegative(),
  chunks: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
});
export const resultErrorSchema = z.strictObject({ code: z.enum(errorCodeList), message: z.string() });

export const HEADER_KIND = "Sluice-Kind";
export const HEADER_SEQ = "Sluice-Seq";
export const HEADER_ROWS = "Sluice-Rows";

export interface ResultHeader {
  kind: ResultKind;
  /** 0 for meta, then 1, 2, … for chunks, and the next number for end or error. */
  seq: number;
  rows: number;
}

export function encodeResultHeader(header: ResultHeader): MsgHdrs {
  const h = natsHeaders();
  h.set(HEADER_KIND, header.kind);
  h.set(HEADER_SEQ, String(header.seq));
  h.set(HEADER_ROWS, String(header.rows));
  return h;
}

const KINDS: readonly ResultKind[] = ["meta", "chunk", "end", "error"];

/** Reads a result message's header; undefined when it is not one of ours. */
export function decodeResultHeader(h: MsgHdrs | undefined): ResultHeader | undefined {
  if (!h) return undefined;
  const kind = h.get(HEADER_KIND) as ResultKind;
  const seq = Number(h.get(HEADER_SEQ));
  const rows = Number(h.get(HEADER_ROWS));
  if (!KINDS.includes(kind) || !Number.isSafeInteger(seq) || seq < 0 || !Number.isSafeInteger(rows)) return undefined;
  return { kind, seq, rows };
}

/** Control messages an edge sends a request's worker on the flow subject. */
export type FlowSignal = "acked" | "cancel";
