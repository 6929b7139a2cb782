import { hostname } from "node:os";
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import type { Pool } from "pg";
import { auditRecordSchema, type AuditRecord } from "@sluice/broker";
import type { Logger } from "@sluice/runtime";
import type { WorkerMetrics } from "./metrics.js";

/**
 * One record per request in the audit database. A record goes first to a JetStream stream (after
 * the request's last message, off the chunk path), then a writer on every worker copies records
 * from there to the database in batches and acks them only once written: an audit database that
 * is down delays records, it does not lose them.
 */

export const AUDIT_TABLE_SQL = `CREATE TABLE IF NOT EXISTS sluice_audit (
  request text PRIMARY KEY,
  tenant text NOT NULL,
  subject text NOT NULL,
  dataset text NOT NULL,
  params_digest text NOT NULL,
  rows bigint NOT NULL,
  bytes bigint NOT NULL,
  duration_ms integer NOT NULL,
  outcome text NOT NULL,
  error_code text,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  worker text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
)`;

// One statement per batch; a record already written (published again after a crash) is skipped.
// No conflict target: INSERT privilege alone suffices (a target would need SELECT on it too).
const INSERT_SQL = `INSERT INTO sluice_audit (request, tenant, subject, dataset, params_digest, rows, bytes, duration_ms, outcome, error_code, started_at, finished_at, worker)
SELECT request, tenant, subject, dataset, params_digest, rows, bytes, duration_ms, outcome, error_code, started_at, finished_at, worker
FROM jsonb_to_recordset($1::jsonb) AS r(request text, tenant text, subject text, dataset text, params_digest text, rows bigint, bytes bigint,
  duration_ms integer, outcome text, error_code text, started_at timestamptz, finished_at timestamptz, worker text)
ON CONFLICT DO NOTHING`;

const BATCH = 200;
const FETCH_EXPIRES_MS = 2_000;
/** After a failed write, records come back after this long (and the writer waits as long). */
const RETRY_MS = 2_000;

export const WORKER_ID = `${hostname()}:${process.pid}`;

/** Copies audit records from the stream to the audit database, acking each once it is written. */
export class AuditWriter {
  #running = false;
  #loop: Promise<void> | undefined;
  #tableReady = false;

  constructor(
    private readonly consumer: Consumer,
    private readonly pool: Pool,
    private readonly logger: Logger,
    private readonly metrics: WorkerMetrics,
  ) {}

  start(): void {
    this.#running = true;
    this.#loop = this.#run();
  }

  async close(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const batch: JsMsg[] = [];
      try {
        const messages = await this.consumer.fetch({ max_messages: BATCH, expires: FETCH_EXPIRES_MS });
        for await (const msg of messages) batch.push(msg);
      } catch (error) {
        this.logger.warn({ err: error }, "could not fetch audit records; retrying");
      }
      if (batch.length > 0 && !(await this.#write(batch))) await sleep(RETRY_MS);
    }
  }

  /** Writes a batch and acks it; on failure the records are redelivered later. True when written. */
  async #write(batch: JsMsg[]): Promise<boolean> {
    const records: AuditRecord[] = [];
    const valid: JsMsg[] = [];
    for (const msg of batch) {
      const parsed = auditRecordSchema.safeParse(safeJson(msg));
      if (parsed.success) {
        records.push(parsed.data);
        valid.push(msg);
      } else {
        this.logger.error({ seq: msg.seq }, "dropping a malformed audit record");
        msg.term();
      }
    }
    if (records.length === 0) return true;
    try {
      if (!this.#tableReady) {
        // Created only when missing: a role that may only insert into an existing table suffices.
        const { rows } = await this.pool.query<{ found: boolean }>("SELECT to_regclass('sluice_audit') IS NOT NULL AS found");
        if (!rows[0]?.found) await this.pool.query(AUDIT_TABLE_SQL);
        this.#tableReady = true;
      }
      await this.pool.query(INSERT_SQL, [JSON.stringify(records)]);
    } catch (error) {
      this.metrics.auditFailures.inc();
      this.logger.warn({ err: error, records: records.length }, "audit database write failed; records kept for a retry");
      for (const msg of valid) msg.nak(RETRY_MS);
      return false;
    }
    for (const msg of valid) msg.ack();
    this.metrics.auditRecords.inc(records.length);
    return true;
  }
}

function safeJson(msg: JsMsg): unknown {
  try {
    return msg.json();
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
