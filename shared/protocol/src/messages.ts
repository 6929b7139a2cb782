import { z } from "zod";
import { errorCodeList } from "./errors.js";

/** Protocol version spoken by this library. */
export const PROTOCOL_VERSION = 1;

const seqSchema = z.number().int().nonnegative();

/** Client-chosen request ids: short, and safe inside NATS subject and consumer names. */
export const requestIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "1-64 characters of A-Z a-z 0-9 _ -");

export const formatSchema = z.enum(["csv", "ndjson"]);
export type Format = z.infer<typeof formatSchema>;

/** A parameter value as sent by a client; bigint and numeric values travel as strings. */
export const paramValueSchema = z.union([z.string().max(65_536), z.number(), z.boolean(), z.null()]);
export type ParamValue = z.infer<typeof paramValueSchema>;

/** A request to continue after a reconnect: `next` is the first seq the client has not consumed. */
export const resumeRequestSchema = z.strictObject({ id: requestIdSchema, next: seqSchema });

export const helloSchema = z.strictObject({
  type: z.literal("hello"),
  v: z.number().int(),
  token: z.string().min(1).max(16_384),
  /** Present when a client reconnects to continue its session's requests. */
  resume: z
    .strictObject({
      session: z.string().regex(/^[0-9a-f]{48}$/),
      requests: z.array(resumeRequestSchema).max(1000),
    })
    .optional(),
});

export const querySchema = z.strictObject({
  type: z.literal("query"),
  id: requestIdSchema,
  dataset: z.string().min(1).max(128),
  params: z.record(z.string().max(128), paramValueSchema).default({}),
  format: formatSchema.default("csv"),
  /** W3C trace context of the caller's span; the request's trace continues it. */
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, "a W3C traceparent").optional(),
});

export const ackSchema = z.strictObject({ type: z.literal("ack"), id: requestIdSchema, seq: seqSchema });
export const cancelSchema = z.strictObject({ type: z.literal("cancel"), id: requestIdSchema });

export const clientMessageSchema = z.discriminatedUnion("type", [helloSchema, querySchema, ackSchema, cancelSchema]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type Hello = z.infer<typeof helloSchema>;
export type ResumeRequest = z.infer<typeof resumeRequestSchema>;
export type Query = z.input<typeof querySchema>;
export type Ack = z.infer<typeof ackSchema>;
export type Cancel = z.infer<typeof cancelSchema>;

export const columnSchema = z.strictObject({ name: z.string(), type: z.string() });
export type Column = z.infer<typeof columnSchema>;

export const welcomeSchema = z.strictObject({
  type: z.literal("welcome"),
  v: z.number().int(),
  session: z.string(),
  window: z.number().int().positive(),
  /** True when the hello resumed an earlier session. */
  resumed: z.boolean().optional(),
});

export const metaSchema = z.strictObject({
  type: z.literal("meta"),
  id: requestIdSchema,
  seq: z.literal(0),
  format: formatSchema,
  columns: z.array(columnSchema),
});

export const endSchema = z.strictObject({
  type: z.literal("end"),
  id: requestIdSchema,
  seq: seqSchema,
  rows: seqSchema,
  chunks: seqSchema,
  bytes: seqSchema,
});

export const errorSchema = z.strictObject({
  type: z.literal("error"),
  id: requestIdSchema.optional(),
  seq: seqSchema.optional(),
  code: z.enum(errorCodeList),
  message: z.string(),
});

/** Server messages sent as text frames; chunks travel as binary frames (see chunk-frame.ts). */
export const serverMessageSchema = z.discriminatedUnion("type", [welcomeSchema, metaSchema, endSchema, errorSchema]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type Welcome = z.infer<typeof welcomeSchema>;
export type Meta = z.infer<typeof metaSchema>;
export type End = z.infer<typeof endSchema>;
export type ErrorMessage = z.infer<typeof errorSchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

function parseJson<T>(schema: z.ZodType<T>, text: string): Parsed<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: "malformed JSON" };
  }
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return { ok: false, reason: `${where}${issue?.message ?? "invalid message"}` };
}

/** Parses one text frame from a client. */
export function parseClientMessage(text: string): Parsed<z.infer<typeof clientMessageSchema>> {
  return parseJson(clientMessageSchema, text);
}

/** Parses one text frame from a server. */
export function parseServerMessage(text: string): Parsed<ServerMessage> {
  return parseJson(serverMessageSchema, text);
}

export function encodeMessage(message: ClientMessage | ServerMessage | Query): string {
  return JSON.stringify(message);
}
