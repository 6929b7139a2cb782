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

const tokenSchema = z.string().min(1).max(16_384);

export const helloSchema = z.strictObject({
  type: z.literal("hello"),
  v: z.number().int(),
  token: tokenSchema,
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

/** A new token for the same tenant and subject, sent before the current one expires. */
export const refreshSchema = z.strictObject({ type: z.literal("refresh"), token: tokenSchema });

export const clientMessageSchema = z.discriminatedUnion("type", [helloSchema, querySchema, ackSchema, cancelSchema, refreshSchema]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type Hello = z.infer<typeof helloSchema>;
export type ResumeRequest = z.infer<typeof resumeRequestSchema>;
export type Query = z.input<typeof querySchema>;
export type Ack = z.infer<typeof ackSchema>;
export type Cancel = z.infer<typeof cancelSchema>;
export type Refresh = z.infer<typeof refreshSchema>;

export const columnSchema = z.strictObject({ name: z.string(), type: z.string() });
export type Column = z.infer<typeof columnSchema>;

export const welcomeSchema = z.strictObject({
  type: z.literal("welcome"),
  v: z.number().int(),
  session: z.string(),
  window: z.number().int().positive(),
  /** True when the hello resumed an earlier session. */
  resumed: z.boolean().optional(),
  /** Epoch seconds at which the token expires and the socket is closed unless refreshed. */
  expires: z.number().int().nonnegative().optional(),
  /** The server sends a frame at least this often (milliseconds); silence twice as long means the link is dead. */
  heartbeat: z.number().int().positive().optional(),
});

/** The edge accepted a refresh; the socket now lives until `expires` (epoch seconds). */
export const refreshedSchema = z.strictObject({ type: z.literal("refreshed"), expires: z.number().int().nonnegative() });

/** Sent by the server on an open session every `heartbeat` ms, so the client can tell a dead link. */
export const heartbeatSchema = z.strictObject({ type: z.literal("heartbeat") });

export const metaSchema = z.strictObject({
  type: z.literal("meta"),
  id: requestIdSchema,
  seq: z.literal(0),
  format: formatSchema,
  columns: z.array(columnSchema),
  /** The database planner's guess at the result's rows, for progress bars; can be far off. */
  estimatedRows: z.number().int().nonnegative().optional(),
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
export const serverMessageSchema = z.discriminatedUnion("type", [welcomeSchema, metaSchema, endSchema, errorSchema, refreshedSchema, heartbeatSchema]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type Welcome = z.infer<typeof welcomeSchema>;
export type Refreshed = z.infer<typeof refreshedSchema>;
export type Meta = z.infer<typeof metaSchema>;
export type End = z.infer<typeof endSchema>;
export type ErrorMessage = z.infer<typeof errorSchema>;

/** Longest reason a failed parse gives. */
export const MAX_REASON_CHARS = 200;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

class ProtoKeyError extends Error {}

/**
 * JSON.parse makes "__proto__" an own key, but copying it into a new object (as schema parsing
 * does) sets that object's prototype instead: the value would skip validation. Refused outright.
 */
function refuseProtoKey(key: string, value: unknown): unknown {
  if (key === "__proto__") throw new ProtoKeyError('the key "__proto__" is not allowed');
  return value;
}

function parseJson<T>(schema: z.ZodType<T>, text: string): Parsed<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(text, refuseProtoKey);
  } catch (error) {
    return { ok: false, reason: error instanceof ProtoKeyError ? error.message : "malformed JSON" };
  }
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  const reason = `${where}${issue?.message ?? "invalid message"}`;
  // Paths and messages may echo the sender's keys: a reason stays short whatever was sent.
  return { ok: false, reason: reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 1)}…` : reason };
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
