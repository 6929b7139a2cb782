import type { Logger } from "pino";

/** Longest a graceful shutdown may take; above the worker's 10 s finish time plus its hand-over. */
const SHUTDOWN_DEADLINE_MS = 30_000;

/**
 * Calls `close` once on SIGTERM or SIGINT, then exits; a second signal exits at once.
 * `close` must drain in reverse order of start-up.
 */
export function onShutdown(logger: Logger, close: (signal: string) => Promise<void>): void {
  let closing = false;
  const handle = (signal: NodeJS.Signals): void => {
    if (closing) process.exit(1);
    closing = true;
    logger.info({ signal }, "shutting down");
    // Draining waits on peers (clients, NATS); one that never answers must not keep us alive.
    setTimeout(() => {
      logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, "shutdown took too long; exiting");
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    close(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", handle);
  process.on("SIGINT", handle);
}
