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

const edgeSchema = z.object({
  ...commonShape,
  SLUICE_EDGE_HOST: z.string().default("0.0.0.0"),
  SLUICE_EDGE_PORT: port.default(8080),
  SLUICE_JWT_SECRET: z.string().min(16, "is required (at least 16 characters)"),
  SLUICE_MAX_FRAME_BYTES: positive.default(64 * 1024),
  SLUICE_HELLO_TIMEOUT_MS: positive.default(10_000),
  SLUICE_RESUME_GRACE_MS: z.coerce.number().int().nonnegative().default(60_000),
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

export interface EdgeSettings extends CommonSettings {
  readonly host: string;
  /** Default 8080. */
  readonly port: number;
  readonly jwtSecret: string;
  /** Largest inbound websocket frame. Default 64 KiB. */
  readonly maxFrameBytes: number;
  /** Time a session's requests wait for their client to reconnect. Default 60 s; 0 disables. */
  readonly resumeGraceMs: number;
  /** Time a socket may take to send hello. Default 10 s. */
  readonly helloTimeoutMs: number;
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
  return Object.freeze({
    ...common(e),
    host: e.SLUICE_EDGE_HOST,
    port: e.SLUICE_EDGE_PORT,
    jwtSecret: e.SLUICE_JWT_SECRET,
    maxFrameBytes: e.SLUICE_MAX_FRAME_BYTES,
    helloTimeoutMs: e.SLUICE_HELLO_TIMEOUT_MS,
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
  ...new Set([...Object.keys(edgeSchema.shape), ...Object.keys(workerSchema.shape)]),
] as readonly string[];
