import { SluiceError } from "@sluice/protocol";

interface PgError {
  code?: string;
}

/**
 * Translates a database error into a coded error that is safe to send: SQL text, server messages
 * and stack traces never leave the worker; the original stays as `cause` for the log.
 */
export function translateDbError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  const code = (error as PgError | undefined)?.code ?? "";
  if (code === "57014") return new SluiceError("QUERY_TIMEOUT", undefined, { cause: error });
  if (code === "57P01" || code === "57P02" || code === "57P03" || code.startsWith("08")) {
    return new SluiceError("DATABASE_UNAVAILABLE", undefined, { cause: error });
  }
  const connectionLost = error instanceof Error && /Connection terminated|connection is closed/i.test(error.message);
  if (connectionLost || code === "53300" || code === "ECONNREFUSED" || code === "ECONNRESET") {
    return new SluiceError("DATABASE_UNAVAILABLE", undefined, { cause: error });
  }
  return new SluiceError("QUERY_FAILED", undefined, { cause: error });
}
