import { z } from "zod";
import { ConfigError } from "./config.js";

type Env = Readonly<Record<string, string | undefined>>;

const port = z.coerce.number().int().min(0).max(65_535);
const positive = z.coerce.number().int().positive();

const commonShape = {
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  SLUICE_CONFIG: z.string().min(1, "is required (path of the YAML config)"),
  SLUICE_NATS_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, "must be 1-32 characters of A-Z a-z 0-9 _ -").default("sluice"),
  SLUICE_WINDOW: positive.max(256).default(8),
  SLUICE_REQUEST_LEASE_MS: positive.min(1000).default(30_000),
  SLUICE_STREAM_REPLICAS: positive.max(5).default(1),
  SLUICE_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
};

/** An unset variable and an empty one mean the same: not given. */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const edgeShape = {
  ...commonShape,
  SLUICE_EDGE_HOST: z.string().default("0.0.0.0"),
  SLUICE_EDGE_PORT: port.default(8080),
  SLUICE_JWT_SECRET: optional(z.string().min(16, "is required (at least 16 characters)")),
  SLUICE_JWKS_URL: optional(z.url({ protocol: /^https?$/, error: "must be an http(s) URL" })),
  SLUICE_SESSION_KEY: optional(z.string().min(16, "must be at least 16 characters")),
  SLUICE_JWT_ISSUER: optional(z.string()),
  SLUICE_JWT_AUDIENCE: optional(z.string()),
  SLUICE_JWT_CLOCK_SKEW_S: z.coerce.number().int().nonnegative().max(600).default(30),
  SLUICE_MAX_FRAME_BYTES: positive.default(64 * 1024),
  SLUICE_HELLO_TIMEOUT_MS: positive.default(10_000),
  SLUICE_HEARTBEAT_MS: positive.min(100).default(15_000),
  SLUICE_RESUME_GRACE_MS: z.coerce.number().int().nonnegative().default(60_000),
  SLUICE_MAX_REQUESTS_PER_SOCKET: positive.default(16),
  SLUICE_MAX_QUEUED_PER_SOCKET: z.coerce.number().int().nonnegative().default(64),
  SLUICE_MAX_FRAMES_PER_SECOND: positive.default(2_000),
  SLUICE_MAX_SOCKETS_PER_TENANT: positive.default(256),
};

/** Exactly one way to check tokens; JWKS mode has no secret, so sessions need a key of their own. */
const edgeSchema = z.object(edgeShape).superRefine((e, ctx) => {
  if (e.SLUICE_JWT_SECRET !== undefined && e.SLUICE_JWKS_URL !== undefined) {
    ctx.addIssue({ code: "custom", path: ["SLUICE_JWKS_URL"], message: "cannot be set together with SLUICE_JWT_SECRET (choose HS256 or JWKS)" });
  } else if (e.SLUICE_JWT_SECRET === undefined && e.SLUICE_JWKS_URL === undefined) {
    ctx.addIssue({ code: "custom", path: ["SLUICE_JWT_SECRET"], message: "is required (at least 16 characters) unless SLUICE_JWKS_URL is set" });
  } else if (e.SLUICE_JWKS_URL !== undefined && e.SLUICE_SESSION_KEY === undefined) {
    ctx.addIssue({ code: "custom", path: ["SLUICE_SESSION_KEY"], message: "is required with SLUICE_JWKS_URL (the same on every edge)" });
  }
});

const workerSchema = z.object({
  ...commonShape,
  SLUICE_WORKER_HOST: z.string().default("0.0.0.0"),
  SLUICE_WORKER_PORT: port.default(0),
  SLUICE_WORKER_SLOTS: positive.optional(),
  SLUICE_CHUNK_BYTES: positive.min(4096).max(768 * 1024).default(512 * 1024),
  SLUICE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().nonnegative().default(30_000),
  SLUICE_IDLE_TIMEOUT_MS: positive.default(300_000),
  SLUICE_TENANT_MAX_RUNNING: z.coerce.number().int().nonnegative().default(8),
});

/** Settings of both services, with their defaults. */
export interface CommonSettings {
  /** NATS server URL(s), comma separated. Default nats://127.0.0.1:4222. */
  readonly natsUrl: string;
  /** Path of the YAML config. */
  readonly configPath: string;
  /** First token of every stream, consumer and subject name. Default "sluice". */
  readonly natsPrefix: string;
  /** Chunks a worker may publish ahead of the client's acks, per request. Default 8. */
  readonly window: number;
  /** A request whose worker stops reporting for this long goes to another worker. Default 30 s. */
  readonly requestLeaseMs: number;
  /** Copies JetStream keeps of each stream (3 on a 3-node cluster). Default 1. */
  readonly streamReplicas: number;
  readonly logLevel: string;
}

/** How client tokens are checked: HS256 with a shared secret, or asymmetric keys from a JWKS URL. */
export type TokenKeys = { readonly kind: "secret"; readonly secret: string } | { readonly kind: "jwks"; readonly url: string };

export interface AuthSettings {
  readonly keys: TokenKeys;
  /** Required `iss` claim, when set. Default: not checked. */
  readonly issuer: string | undefined;
  /** Required `aud` claim, when set. Default: not checked. */
  readonly audience: string | undefined;
  /** Clock difference allowed on `exp` and `nbf`. Default 30 s. */
  readonly clockSkewS: number;
}

export interface EdgeSettings extends CommonSettings {
  readonly host: string;
  /** Default 8080. */
  readonly port: number;
  readonly auth: AuthSettings;
  /** Key binding session ids to their tenant and subject; default the JWT secret (HS256 mode). */
  readonly sessionKey: string;
  /** Requests running at once on one socket. Default 16. */
  readonly maxRequestsPerSocket: number;
  /** Requests waiting on one socket for a running one to finish; more are refused. Default 64. */
  readonly maxQueuedPerSocket: number;
  /** Frames one socket may send in a second (acks of its running requests aside); more close it. Default 2000. */
  readonly maxFramesPerSecond: number;
  /** Sockets one tenant may hold open on one edge. Default 256. */
  readonly maxSocketsPerTenant: number;
  /** Largest inbound websocket frame. Default 64 KiB. */
  readonly maxFrameBytes: number;
  /** Time a session's requests wait for their client to reconnect. Default 60 s; 0 disables. */
  readonly resumeGraceMs: number;
  /** Time a socket may take to send hello. Default 10 s. */
  readonly helloTimeoutMs: number;
  /** A frame to every open socket at least this often, and a ping it must answer. Default 15 s. */
  readonly heartbeatMs: number;
}

export interface WorkerSettings extends CommonSettings {
  readonly host: string;
  /** Default 0: any free port. */
  readonly port: number;
  /** Requests run at once; default: the largest pool among the databases datasets read. */
  readonly slots: number | undefined;
  /** Largest chunk payload. Default 512 KiB, never above half the NATS max_payload. */
  readonly chunkBytes: number;
  /** statement_timeout for each request's statements. Default 30 s; 0 disables. */
  readonly statementTimeoutMs: number;
  /** A request whose client acks nothing for this long is abandoned. Default 5 min. */
  readonly idleTimeoutMs: number;
  /** Requests of one tenant running at once across all workers; 0: no limit. Default 8. */
  readonly tenantMaxRunning: number;
}

function parseEnv<S extends z.ZodType>(schema: S, env: Env): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`environment ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  return result.data;
}

function common(e: z.infer<z.ZodObject<typeof commonShape>>): CommonSettings {
  return {
    natsUrl: e.NATS_URL,
    configPath: e.SLUICE_CONFIG,
    natsPrefix: e.SLUICE_NATS_PREFIX,
    window: e.SLUICE_WINDOW,
    requestLeaseMs: e.SLUICE_REQUEST_LEASE_MS,
    streamReplicas: e.SLUICE_STREAM_REPLICAS,
    logLevel: e.SLUICE_LOG_LEVEL,
  };
}

export function edgeSettings(env: Env): EdgeSettings {
  const e = parseEnv(edgeSchema, env);
  const keys: TokenKeys = e.SLUICE_JWKS_URL !== undefined ? { kind: "jwks", url: e.SLUICE_JWKS_URL } : { kind: "secret", secret: e.SLUICE_JWT_SECRET ?? "" };
  return Object.freeze({
    ...common(e),
    host: e.SLUICE_EDGE_HOST,
    port: e.SLUICE_EDGE_PORT,
    auth: {
      keys,
      issuer: e.SLUICE_JWT_ISSUER,
      audience: e.SLUICE_JWT_AUDIENCE,
      clockSkewS: e.SLUICE_JWT_CLOCK_SKEW_S,
    },
    sessionKey: e.SLUICE_SESSION_KEY ?? e.SLUICE_JWT_SECRET ?? "",
    maxRequestsPerSocket: e.SLUICE_MAX_REQUESTS_PER_SOCKET,
    maxQueuedPerSocket: e.SLUICE_MAX_QUEUED_PER_SOCKET,
    maxFramesPerSecond: e.SLUICE_MAX_FRAMES_PER_SECOND,
    maxSocketsPerTenant: e.SLUICE_MAX_SOCKETS_PER_TENANT,
    maxFrameBytes: e.SLUICE_MAX_FRAME_BYTES,
    helloTimeoutMs: e.SLUICE_HELLO_TIMEOUT_MS,
    heartbeatMs: e.SLUICE_HEARTBEAT_MS,
    resumeGraceMs: e.SLUICE_RESUME_GRACE_MS,
  });
}

export function workerSettings(env: Env): WorkerSettings {
  const e = parseEnv(workerSchema, env);
  return Object.freeze({
    ...common(e),
    host: e.SLUICE_WORKER_HOST,
    port: e.SLUICE_WORKER_PORT,
    slots: e.SLUICE_WORKER_SLOTS,
    chunkBytes: e.SLUICE_CHUNK_BYTES,
    statementTimeoutMs: e.SLUICE_STATEMENT_TIMEOUT_MS,
    idleTimeoutMs: e.SLUICE_IDLE_TIMEOUT_MS,
    tenantMaxRunning: e.SLUICE_TENANT_MAX_RUNNING,
  });
}

/** Every environment variable the services read, for documentation and deploy checks. */
export const ENV_VARS = [
  ...new Set([...Object.keys(edgeShape), ...Object.keys(workerSchema.shape)]),
] as readonly string[];
