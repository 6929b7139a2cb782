import { hostname } from "node:os";
import { paramsDigest, type AuditRecord, type RequestMessage } from "@sluice/broker";
import type { ErrorCode } from "@sluice/protocol";

const EDGE_ID = `edge ${hostname()}:${process.pid}`;

/** The audit record of a request the edge refused before any worker saw it. */
export function refusalRecord(request: RequestMessage, code: ErrorCode, at = new Date()): AuditRecord {
  return {
    request: request.key,
    tenant: request.tenant,
    subject: request.subject,
    dataset: request.dataset,
    params_digest: paramsDigest(request.params),
    rows: 0,
    bytes: 0,
    duration_ms: 0,
    outcome: "failed",
    error_code: code,
    started_at: at.toISOString(),
    finished_at: at.toISOString(),
    worker: EDGE_ID,
  };
}
