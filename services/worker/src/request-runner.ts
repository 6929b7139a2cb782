import type { JsMsg, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import pg, { type Pool } from "pg";
import Cursor from "pg-cursor";
import { bindParams, type ParamConfig, type SluiceConfig, type WorkerSettings } from "@sluice/config";
import { decodeResultHeader, discardResult, paramsDigest, startSpan, traceFields, type AuditLog, type Names, type RequestMessage } from "@sluice/broker";
import { SluiceError, type ErrorCode } from "@sluice/protocol";
import type { Logger } from "@sluice/runtime";
import { WORKER_ID } from "./audit.js";
import { Chunker, type FullChunk } from "./chunker.js";
import { translateDbError } from "./db-errors.js";
import { Lease } from "./lease.js";
import { ResultPublisher } from "./result-publisher.js";
import { TYPE_INFO_SQL, describeQuery, encodedQuery, type ColumnInfo } from "./row-encoding.js";
import type { WorkerMetrics } from "./metrics.js";

/** What a request runner needs; main.ts wires the real ones. */
export interface RunnerDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly pools: ReadonlyMap<string, Pool>;
  readonly config: SluiceConfig;
  readonly settings: WorkerSettings;
  readonly logger: Logger;
  readonly metrics: WorkerMetrics;
  /** Where finished requests are recorded; absent when no database has role audit. */
  readonly audit?: AuditLog;
}

/** Largest number of rows asked of the cursor at once. */
const MAX_ROWS_PER_READ = 4096;
/** Small first read, so the first chunk leaves quickly. */
const FIRST_READ_ROWS = 32;

/**
 * "handed-over": the worker is stopping and another worker continues the request; "abandoned": no
 * client acked anything within the idle timeout.
 */
export type Outcome = "completed" | "failed" | "cancelled" | "abandoned" | "handed-over";

interface Ending {
  readonly outcome: Outcome;
  readonly code?: ErrorCode;
}

const encoder = new TextEncoder();
const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

/** Starts of one request after which it is given up: it stopped every worker that ran it. */
export const MAX_STARTS = 10;

/**
 * Runs one request from lease to release, records it in the audit log, and reports how it ended.
 * `starts` counts this start among all workers' (1 the first time).
 */
export async function runRequest(deps: RunnerDeps, request: RequestMessage, msg: JsMsg, handOver: AbortSignal, starts = 1): Promise<Outcome> {
  const startedAt = new Date();
  const span = startSpan(msg.headers);
  const logger = deps.logger.child({ request: request.key, tenant: request.tenant, dataset: request.dataset, ...traceFields(span) });
  const progress = startProgress();
  const ending = await execute(deps, request, msg, handOver, starts, progress, logger);
  // A request handed over is recorded by the worker that finishes it.
  if (deps.audit && ending.outcome !== "handed-over") {
    const finishedAt = new Date();
    await deps.audit.record({
      request: request.key,
      tenant: request.tenant,
      subject: request.subject,
      dataset: request.dataset,
      params_digest: paramsDigest(request.params),
      rows: progress.rows,
      bytes: progress.bytes,
      duration_ms: finishedAt.getTime() - startedAt.getTime(),
      outcome: ending.outcome,
      error_code: ending.code ?? null,
      started_at: startedAt.toISOString(),
      finished_at: finishedAt.toISOString(),
      worker: WORKER_ID,
    });
  }
  return ending.outcome;
}

async function execute(
  deps: RunnerDeps,
  request: RequestMessage,
  msg: JsMsg,
  handOver: AbortSignal,
  starts: number,
  progress: Progress,
  logger: Logger,
): Promise<Ending> {
  const publisher = new ResultPublisher(deps.nc, deps.js, deps.names, {
    key: request.key,
    idleTimeoutMs: deps.settings.idleTimeoutMs,
  });
  handOver.addEventListener("abort", () => publisher.handOver(), { once: true });
  try {
    if (msg.info.deliveryCount > 1 && (await recover(deps, request, publisher, progress, logger)) === "finished") return { outcome: "completed" };
    if (starts > MAX_STARTS) throw new SluiceError("WORKER_LOST", `The request was started ${MAX_STARTS} times and stopped its worker each time`);
    await stream(deps, request, publisher, progress, logger);
    const summary = { rows: progress.rows, chunks: progress.chunks, bytes: progress.bytes };
    await publisher.publish({ kind: "end", seq: progress.seq, rows: 0 }, json(summary));
    logger.info(summary, "request completed");
    return { outcome: "completed" };
  } catch (caught) {
    const error = translateDbError(caught);
    if (publisher.idle) {
      // No edge is reading the request any more (its client never came back): clean up here.
      logger.info("request abandoned: no acks within the idle timeout");
      await discardResult(deps.js, deps.jsm, deps.names, request.key, { marker: true, markerSeq: progress.seq }).catch(() => undefined);
      return { outcome: "abandoned" };
    }
    if (publisher.handedOver) {
      logger.info({ chunks: progress.chunks }, "request handed over to another worker");
      return { outcome: "handed-over" };
    }
    if (publisher.cancelled) {
      logger.info({ err: error.cause }, "request cancelled");
      return { outcome: "cancelled", code: "CANCELLED" };
    }
    logger.warn({ code: error.code, err: error.cause ?? error }, "request failed");
    deps.metrics.errors.inc({ code: error.code });
    await publishError(publisher, progress.seq, error.code, error.message, logger);
    return { outcome: error.code === "CANCELLED" ? "cancelled" : "failed", code: error.code };
  } finally {
    publisher.close();
  }
}

/** Where a request's results stand: what its next message continues from. */
interface Progress {
  /** Seq of the next message. */
  seq: number;
  rows: number;
  chunks: number;
  bytes: number;
  /** Key of the last row published, for a keyset continuation. */
  lastKey: string | undefined;
}

function startProgress(): Progress {
  return { seq: 0, rows: 0, chunks: 0, bytes: 0, lastKey: undefined };
}

/**
 * The request was delivered again: the worker that held it stopped. Continues after its last
 * published message: from the start when it published nothing, after the last chunk's key when
 * the dataset has one (a fresh snapshot), else WORKER_LOST. Its publisher, if it comes back, is
 * fenced off by the subject's new last sequence.
 */
async function recover(deps: RunnerDeps, request: RequestMessage, publisher: ResultPublisher, progress: Progress, logger: Logger): Promise<"finished" | "continue"> {
  const subject = deps.names.resultSubject(request.key);
  const last = await deps.jsm.streams.getMessage(deps.names.resultStream, { last_by_subj: subject }).catch(() => null);
  const header = last ? decodeResultHeader(last.header) : undefined;
  if (!last || !header) return "continue";
  if (header.kind === "end" || header.kind === "error") return "finished";
  publisher.resumeAfter(last.seq);
  progress.seq = header.seq + 1;
  if (header.kind === "meta") return "continue";
  if (header.lastKey === undefined || header.totalRows === undefined || header.totalBytes === undefined) {
    throw new SluiceError("WORKER_LOST", "The worker running the request stopped and the dataset has no key to continue from");
  }
  Object.assign(progress, { rows: header.totalRows, chunks: header.seq, bytes: header.totalBytes, lastKey: header.lastKey });
  logger.warn({ after: header.lastKey, chunks: header.seq }, "continuing a request after its worker stopped");
  deps.metrics.recoveries.inc();
  return "continue";
}

async function stream(deps: RunnerDeps, request: RequestMessage, publisher: ResultPublisher, progress: Progress, logger: Logger): Promise<void> {
  const dataset = deps.config.datasets[request.dataset];
  if (!dataset) throw new SluiceError("UNKNOWN_DATASET");
  const values = bindParams(dataset, request.params);
  const pool = deps.pools.get(dataset.database);
  if (!pool) throw new SluiceError("INTERNAL", "The dataset's database is not configured");
  const started = performance.now();
  const lease = await Lease.open(pool, { tenant: request.tenant, statementTimeoutMs: deps.settings.statementTimeoutMs });
  deps.metrics.leases.inc();
  // The connection must not go back to the pool while a pg_cancel_backend for it is on its way.
  let interrupting: Promise<void> | undefined;
  publisher.onCancel(() => (interrupting = cancelBackend(deps, dataset.database, lease.backendPid, deps.logger)));
  try {
    await checkParams(lease, dataset.params, values);
    const columns = await describe(lease, dataset.sql, values);
    if (progress.seq === 0) {
      const estimatedRows = await estimateRows(lease, dataset.sql, values);
      const meta = {
        format: request.format,
        columns: columns.map(({ name, type }) => ({ name, type })),
        ...(estimatedRows === undefined ? {} : { estimatedRows }),
      };
      await publisher.publish({ kind: "meta", seq: progress.seq++, rows: 0 }, json(meta));
    }
    const keyIndex = dataset.key === undefined ? -1 : columns.findIndex((c) => c.name === dataset.key);
    if (progress.lastKey !== undefined && keyIndex < 0) throw new SluiceError("WORKER_LOST");
    const key = keyIndex < 0 ? undefined : { index: keyIndex, ...(progress.lastKey === undefined ? {} : { afterParam: values.length + 1 }) };
    const bound = progress.lastKey === undefined ? values : [...values, progress.lastKey];
    const cursor = lease.client.query(new Cursor(encodedQuery(dataset.sql, columns, request.format, key), bound, { rowMode: "array" }));
    try {
      await pump(deps, cursor, publisher, progress, started);
    } finally {
      await closeCursor(cursor, lease);
    }
  } finally {
    await interrupting;
    deps.metrics.leases.dec();
    const end = await lease.release();
    if (end && !end.kept) {
      deps.metrics.leasesDiscarded.inc({ reason: end.reason });
      if (end.leftovers) logger.warn({ leftovers: end.leftovers }, "connection closed: the request left state on it");
    }
  }
}

/** Closing waits for the server; a connection that died never answers, so it gets a second. */
const CURSOR_CLOSE_TIMEOUT_MS = 1_000;

async function closeCursor(cursor: Cursor<unknown[]>, lease: Lease): Promise<void> {
  if (lease.broken) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), CURSOR_CLOSE_TIMEOUT_MS)));
  const outcome = await Promise.race([cursor.close().catch(() => "failed" as const), timeout]);
  clearTimeout(timer);
  if (outcome !== undefined) lease.markBroken(new Error(`closing the cursor ${outcome}`));
}

/**
 * Casts every value to its declared type on its own, so a value PostgreSQL rejects is reported as
 * the client's PARAM_INVALID, while data errors of the dataset's own SQL stay QUERY_FAILED.
 */
async function checkParams(lease: Lease, params: readonly ParamConfig[], values: (string | null)[]): Promise<void> {
  if (params.length === 0) return;
  try {
    await lease.client.query(`SELECT ${params.map((p, i) => `$${i + 1}::${p.type}`).join(", ")}`, values);
  } catch (error) {
    const code = (error as { code?: string }).code ?? "";
    if (!code.startsWith("22")) throw error;
    throw new SluiceError("PARAM_INVALID", "A parameter value was rejected by the database", { cause: error });
  }
}

/**
 * Interrupts the request's running statement (a slow first read, say) from a connection of its
 * own, so a cancel frees the leased connection at once instead of at the statement's end.
 */
async function cancelBackend(deps: RunnerDeps, database: string, pid: number, logger: Logger): Promise<void> {
  const url = deps.config.databases[database]?.url;
  if (pid === 0 || url === undefined) return;
  const client = new pg.Client({ connectionString: url, application_name: "sluice-worker-cancel" });
  try {
    await client.connect();
    await client.query("SELECT pg_cancel_backend($1)", [pid]);
  } catch (error) {
    logger.warn({ err: error }, "could not interrupt a cancelled request's statement");
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The planner's estimate of the result's rows (no row is read), for progress bars; undefined when
 * the plan gives none. Often rough: a function scan, say, is guessed at 1,000 rows.
 */
async function estimateRows(lease: Lease, sql: string, values: (string | null)[]): Promise<number | undefined> {
  type Plan = { "QUERY PLAN": { Plan?: { "Plan Rows"?: unknown } }[] };
  const { rows } = await lease.client.query<Plan>({ text: `EXPLAIN (FORMAT JSON) ${describeQuery(sql, { limit: false })}`, values });
  const estimate = rows[0]?.["QUERY PLAN"][0]?.Plan?.["Plan Rows"];
  return typeof estimate === "number" && Number.isFinite(estimate) && estimate >= 0 ? Math.round(estimate) : undefined;
}

async function describe(lease: Lease, sql: string, values: (string | null)[]): Promise<ColumnInfo[]> {
  const described = await lease.client.query({ text: describeQuery(sql), values, rowMode: "array" });
  const types = await lease.client.query<{ type: string; base: string; category: string; element: string | null }>(TYPE_INFO_SQL, [
    described.fields.map((f) => f.dataTypeID),
    described.fields.map((f) => f.dataTypeModifier),
  ]);
  return described.fields.map((field, i) => {
    const info = types.rows[i];
    if (!info) throw new SluiceError("INTERNAL", "A column's type could not be resolved");
    return { name: field.name, ...info };
  });
}

/**
 * Starts a read whose result is awaited later. Marked handled now: if the connection dies while
 * chunks are being published, the rejection must not count as unhandled (and end the process);
 * it is thrown where the read is awaited.
 */
function prefetch(cursor: Cursor<unknown[]>, rows: number): Promise<unknown[][]> {
  const read = cursor.read(rows);
  read.catch(() => undefined);
  return read;
}

/** Reads the cursor only as fast as the client's window lets chunks be published. */
async function pump(deps: RunnerDeps, cursor: Cursor<unknown[]>, publisher: ResultPublisher, progress: Progress, started: number): Promise<void> {
  const chunker = new Chunker(deps.settings.chunkBytes);
  const publish = async (chunk: FullChunk): Promise<void> => {
    const header = {
      kind: "chunk" as const,
      seq: progress.seq,
      rows: chunk.rows,
      totalRows: progress.rows + chunk.rows,
      totalBytes: progress.bytes + chunk.data.length,
      ...(chunk.lastKey === undefined ? {} : { lastKey: chunk.lastKey }),
    };
    await publisher.publish(header, chunk.data);
    if (progress.chunks === 0) deps.metrics.firstChunkSeconds.observe((performance.now() - started) / 1000);
    Object.assign(progress, { seq: progress.seq + 1, chunks: progress.chunks + 1, rows: header.totalRows, bytes: header.totalBytes, lastKey: chunk.lastKey });
    deps.metrics.chunks.inc();
    deps.metrics.bytes.inc(chunk.data.length);
  };
  // The next read is sent before the current rows are published, so PostgreSQL computes rows
  // while chunks travel: one batch in hand, one in flight, never more.
  let rowsPerRead = FIRST_READ_ROWS;
  let reading: Promise<unknown[][]> | undefined = prefetch(cursor, rowsPerRead);
  const pumpReads = async (): Promise<void> => {
    while (reading) {
      const rows = (await reading) as (string | null)[][];
      let readBytes = 0;
      for (const row of rows) readBytes += (row[0]?.length ?? 0) + 1;
      const exhausted = rows.length < rowsPerRead;
      if (!exhausted) {
        const averageRow = Math.max(1, readBytes / Math.max(1, rows.length));
        rowsPerRead = Math.max(1, Math.min(MAX_ROWS_PER_READ, Math.ceil(deps.settings.chunkBytes / averageRow)));
      }
      reading = exhausted ? undefined : prefetch(cursor, rowsPerRead);
      for (const row of rows) {
        const full = chunker.add(row[0] ?? "", row[1] ?? undefined);
        if (full) await publish(full);
        if (publisher.cancelled || publisher.handedOver) throw new SluiceError("CANCELLED");
      }
    }
  };
  try {
    await pumpReads();
  } catch (error) {
    await reading?.catch(() => undefined); // the cursor must be idle before it is closed
    throw error;
  }
  const last = chunker.take();
  if (last) await publish(last);
}

async function publishError(publisher: ResultPublisher, seq: number, code: ErrorCode, message: string, logger: Logger): Promise<void> {
  try {
    await publisher.publish({ kind: "error", seq, rows: 0 }, json({ code, message }));
  } catch (error) {
    logger.warn({ err: error }, "could not publish the request's error");
  }
}
