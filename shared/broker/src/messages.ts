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

/** What the audit database keeps of one request, as workers publish it for the audit writers. */
export const auditRecordSchema = z.strictObject({
  request: z.string(),
  tenant: z.string(),
  subject: z.string(),
  dataset: z.string(),
  /** SHA-256 of the parameters as canonical JSON (names sorted): comparable, not readable. */
  params_digest: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  duration_ms: z.number().int().nonnegative(),
  outcome: z.enum(["completed", "failed", "cancelled", "abandoned"]),
  error_code: z.enum(errorCodeList).nullable(),
  started_at: z.iso.datetime(),
  finished_at: z.iso.datetime(),
  worker: z.string(),
});
export type AuditRecord = z.infer<typeof auditRecordSchema>;

/** What a message on a request's result subject is. */
export type ResultKind = "meta" | "chunk" | "end" | "error";

export const resultMetaSchema = z.strictObject({
  format: formatSchema,
  columns: z.array(columnSchema),
  estimatedRows: z.number().int().nonnegative().optional(),
});
export const resultEndSchema = z.strictObject({
  rows: z.number().int().nonnegative(),
  chunks: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
});
export const resultErrorSchema = z.strictObject({ code: z.enum(errorCodeList), message: z.string() });

export const HEADER_KIND = "Sluice-Kind";
export const HEADER_SEQ = "Sluice-Seq";
export const HEADER_ROWS = "Sluice-Rows";

export const HEADER_TOTAL_ROWS = "Sluice-Total-Rows";
export const HEADER_TOTAL_BYTES = "Sluice-Total-Bytes";
export const HEADER_LAST_KEY = "Sluice-Last-Key";

export interface ResultHeader {
  kind: ResultKind;
  /** 0 for meta, then 1, 2, … for chunks, and the next number for end or error. */
  seq: number;
  rows: number;
  /** On chunks: rows and payload bytes of the request so far, this chunk included. */
  totalRows?: number;
  totalBytes?: number;
  /** On chunks of a dataset with a key: the key of the chunk's last row, as text. */
  lastKey?: string;
}

export function encodeResultHeader(header: ResultHeader): MsgHdrs {
  const h = natsHeaders();
  h.set(HEADER_KIND, header.kind);
  h.set(HEADER_SEQ, String(header.seq));
  h.set(HEADER_ROWS, String(header.rows));
  if (header.totalRows !== undefined) h.set(HEADER_TOTAL_ROWS, String(header.totalRows));
  if (header.totalBytes !== undefined) h.set(HEADER_TOTAL_BYTES, String(header.totalBytes));
  // Header values are one line; keys travel JSON-encoded so any text survives.
  if (header.lastKey !== undefined) h.set(HEADER_LAST_KEY, JSON.stringify(header.lastKey));
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
  const header: ResultHeader = { kind, seq, rows };
  if (h.has(HEADER_TOTAL_ROWS)) header.totalRows = Number(h.get(HEADER_TOTAL_ROWS));
  if (h.has(HEADER_TOTAL_BYTES)) header.totalBytes = Number(h.get(HEADER_TOTAL_BYTES));
  if (h.has(HEADER_LAST_KEY)) {
    try {
      const key: unknown = JSON.parse(h.get(HEADER_LAST_KEY));
      if (typeof key === "string") header.lastKey = key;
    } catch {
      return undefined;
    }
  }
  return header;
}

/** Control messages an edge sends a request's worker on the flow subject. */
export type FlowSignal = "acked" | "cancel";
