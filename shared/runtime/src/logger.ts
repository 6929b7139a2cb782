import { pino, type Logger } from "pino";

export type { Logger };

/** JSON logs on stdout, one line per event, with the service name on every line. */
export function createLogger(service: string, level: string): Logger {
  return pino({ level, base: { service, pid: process.pid } });
}
