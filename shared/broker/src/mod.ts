export { natsNames, requestKey } from "./names.js";
export type { Names } from "./names.js";
export { streamConfigs, ensureStreams, ensureAuditStream, MAX_RESULT_MESSAGE_BYTES } from "./streams.js";
export type { StreamOptions } from "./streams.js";
export {
  requestMessageSchema,
  auditRecordSchema,
  resultMetaSchema,
  resultEndSchema,
  resultErrorSchema,
  encodeResultHeader,
  decodeResultHeader,
} from "./messages.js";
export type { AuditRecord, RequestMessage, ResultKind, ResultHeader, FlowSignal } from "./messages.js";
export { discardResult } from "./results.js";
export { startSpan, traceHeaders, traceFields } from "./trace.js";
export type { TraceIds } from "./trace.js";
export { AuditLog, paramsDigest } from "./audit-log.js";
export type { AuditLogger } from "./audit-log.js";
