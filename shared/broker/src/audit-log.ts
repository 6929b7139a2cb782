import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { AuditRecord, RequestMessage } from "./messages.js";
import type { Names } from "./names.js";

const PUBLISH_ATTEMPTS = 5;

/** What the audit log needs of a logger. */
export interface AuditLogger {
  error(fields: object, message: string): void;
}

/** SHA-256 of the parameters as JSON with sorted names: records compare, they do not reveal. */
export function paramsDigest(params: RequestMessage["params"]): string {
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  return createHash("sha256").update(canonical).digest("hex");
}

/**
 * Publishes audit records to the audit stream, whence the workers' writers copy them to the audit
 * database. Never throws: a record that cannot be published after a few tries is logged.
 */
export class AuditLog {
  constructor(
    private readonly js: JetStreamClient,
    private readonly names: Names,
    private readonly logger: AuditLogger,
  ) {}

  async record(record: AuditRecord): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.js.publish(this.names.auditSubject, JSON.stringify(record), { msgID: `audit-${record.request}` });
        return;
      } catch (error) {
        if (attempt >= PUBLISH_ATTEMPTS) {
          this.logger.error({ err: error, audit: record }, "audit record could not be published");
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
  }
}
