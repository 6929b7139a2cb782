import type { Pool, PoolClient } from "pg";
import { SluiceError, tenantIsValid } from "@sluice/protocol";
import { translateDbError } from "./db-errors.js";

/** Checked here too: a request message can come from something other than an edge. */
export function validateTenant(tenant: string): void {
  if (!tenantIsValid(tenant)) throw new SluiceError("TENANT_INVALID");
}

/**
 * What a request could leave on its connection that a ROLLBACK does not undo, one column each,
 * all zero on a clean connection. `inTransaction` checks the request's own transaction before it
 * ends, on the server connection the request used (the same one behind PgBouncer): only what
 * outlives a rollback counts there. After the rollback, a transaction still open and session-level
 * settings (those a connection pooler sets for its clients excepted) count too.
 */
function leftoversSql(options: { inTransaction: boolean }): string {
  const columns = [
    "(SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())::int AS advisory_locks",
    "(SELECT count(*) FROM pg_catalog.pg_prepared_statements)::int AS prepared_statements",
    "(SELECT count(*) FROM pg_catalog.pg_cursors WHERE is_holdable)::int AS held_cursors",
    "(SELECT count(*) FROM pg_catalog.pg_class WHERE relnamespace = pg_my_temp_schema())::int AS temp_objects",
    "(SELECT count(*) FROM pg_catalog.pg_listening_channels())::int AS listen_channels",
  ];
  if (!options.inTransaction) {
    columns.push(
      "(now() <> statement_timestamp())::int AS open_transaction",
      `(SELECT count(*) FROM pg_catalog.pg_settings WHERE source = 'session'
         AND name NOT IN ('application_name', 'client_encoding', 'DateStyle', 'TimeZone', 'IntervalStyle', 'standard_conforming_strings'))::int AS session_settings`,
    );
  }
  return `SELECT ${columns.join(",\n  ")}`;
}

const IN_TRANSACTION_LEFTOVERS_SQL = leftoversSql({ inTransaction: true });
const LEFTOVERS_SQL = leftoversSql({ inTransaction: false });

/**
 * Undoes what survives a rollback, in the request's transaction: behind a pooler, closing our
 * client connection would leave it on the server connection for the pooler's next client.
 */
const CLEAN_UP_SQL = ["SELECT pg_catalog.pg_advisory_unlock_all()", "DEALLOCATE ALL", "CLOSE ALL", "UNLISTEN *"];

/** How a lease ended: its connection went back to the pool, or was closed (and why). */
export type LeaseEnd = { readonly kept: true } | { readonly kept: false; readonly reason: "broken" | "leftovers"; readonly leftovers?: readonly string[] };

export interface LeaseOptions {
  readonly tenant: string;
  readonly statementTimeoutMs: number;
}

/**
 * One dedicated connection for one request, inside its own read-only snapshot transaction with the
 * tenant's schema as search_path. Every setting is SET LOCAL, so nothing outlives the transaction.
 */
export class Lease {
  #state: "open" | "released" = "open";
  /** The server process serving this lease, for pg_cancel_backend. */
  backendPid = 0;

  private constructor(readonly client: PoolClient) {}

  static async open(pool: Pool, options: LeaseOptions): Promise<Lease> {
    validateTenant(options.tenant);
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw new SluiceError("DATABASE_UNAVAILABLE", undefined, { cause: error });
    }
    const lease = new Lease(client);
    // A leased connection that dies (pg_terminate_backend, network) emits 'error' besides failing
    // the running query; unheard, that event would end the process.
    client.on("error", lease.#onError);
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const { rows } = await client.query<{ found: boolean; pid: number }>(
        `SELECT set_config('search_path', quote_ident($1), true),
                set_config('statement_timeout', $2, true),
                set_config('standard_conforming_strings', 'on', true),
                EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1) AS found,
                pg_backend_pid() AS pid`,
        [options.tenant, String(options.statementTimeoutMs)],
      );
      if (!rows[0]?.found) throw new SluiceError("TENANT_UNKNOWN");
      lease.backendPid = rows[0].pid;
      return lease;
    } catch (error) {
      await lease.release();
      throw translateDbError(error);
    }
  }

  /** True once the connection failed; it will be destroyed, not returned. */
  get broken(): boolean {
    return this.#connectionError !== undefined;
  }

  /** Marks the connection unusable (e.g. it stopped answering). */
  markBroken(reason: Error): void {
    this.#connectionError ??= reason;
  }

  readonly #onError = (error: Error): void => {
    this.#connectionError = error;
  };
  #connectionError: Error | undefined;

  /**
   * Ends the transaction and returns the connection to the pool once it is proven clean. A
   * connection that failed, or that keeps state from the request, is closed instead. Undefined
   * when the lease was already released.
   */
  async release(): Promise<LeaseEnd | undefined> {
    if (this.#state === "released") return undefined;
    this.#state = "released";
    let end: LeaseEnd = { kept: false, reason: "broken" };
    if (this.#connectionError === undefined) {
      try {
        const left = await this.#cleanUpInTransaction();
        await this.client.query("ROLLBACK");
        const leftovers = [...new Set([...left, ...(await this.#leftovers(LEFTOVERS_SQL))])];
        end = leftovers.length === 0 ? { kept: true } : { kept: false, reason: "leftovers", leftovers };
      } catch {
        end = { kept: false, reason: "broken" };
      }
    }
    this.client.off("error", this.#onError);
    this.client.release(end.kept ? undefined : new Error(`connection discarded: ${end.reason}`));
    return end;
  }

  /**
   * Finds and undoes, before the rollback, what would outlive it. Finds nothing when the
   * transaction already failed (a failed query): the check after the rollback covers that case.
   */
  async #cleanUpInTransaction(): Promise<string[]> {
    let left: string[];
    try {
      left = await this.#leftovers(IN_TRANSACTION_LEFTOVERS_SQL);
    } catch {
      return []; // the transaction is aborted: nothing runs until the rollback
    }
    if (left.length > 0) for (const sql of CLEAN_UP_SQL) await this.client.query(sql);
    return left;
  }

  /** Names of the kinds of state the request left on the connection; empty when it is clean. */
  async #leftovers(sql: string): Promise<string[]> {
    const { rows } = await this.client.query<Record<string, number>>(sql);
    return Object.entries(rows[0] ?? {}).flatMap(([name, count]) => (count > 0 ? [name] : []));
  }
}
