import type { Pool, PoolClient } from "pg";
import { SluiceError } from "@sluice/protocol";
import { translateDbError } from "./db-errors.js";

/** Tenants are schemas: a plain identifier, never a system schema. */
const TENANT_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function validateTenant(tenant: string): void {
  const lower = tenant.toLowerCase();
  if (!TENANT_PATTERN.test(tenant) || lower.startsWith("pg_") || lower === "information_schema") {
    throw new SluiceError("TENANT_INVALID");
  }
}

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

  /**
   * Ends the transaction and returns the connection. A connection that failed, or whose
   * transaction cannot be ended cleanly, is destroyed instead of going back to the pool.
   */
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

  async release(): Promise<void> {
    if (this.#state === "released") return;
    this.#state = "released";
    let broken = this.#connectionError !== undefined;
    if (!broken) {
      try {
        await this.client.query("ROLLBACK");
      } catch {
        broken = true;
      }
    }
    this.client.off("error", this.#onError);
    this.client.release(broken ? new Error("connection discarded after a failed request") : undefined);
  }
}
