import type { Logger } from "pino";

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
