import pg from "pg";
import { connect } from "@nats-io/transport-node";
import { reasonOf } from "./errors.js";

/** Time a probe waits for a server to answer. Default 3 s. */
export const DEFAULT_PROBE_TIMEOUT_MS = 3_000;

/** Whether a server answered, and if not, why. */
export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Connects to PostgreSQL at `url` and runs `SELECT 1`. */
export async function probePostgres(url: string, timeoutMs = DEFAULT_PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: reasonOf(error) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Connects to NATS at `url` and flushes one round trip. */
export async function probeNats(url: string, timeoutMs = DEFAULT_PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  try {
    const nc = await connect({ servers: url, timeout: timeoutMs, reconnect: false });
    try {
      await nc.flush();
    } finally {
      await nc.close();
    }
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: reasonOf(error) };
  }
}
