export {
  PROTOCOL_VERSION,
  requestIdSchema,
  formatSchema,
  paramValueSchema,
  clientMessageSchema,
  serverMessageSchema,
  columnSchema,
  parseClientMessage,
  parseServerMessage,
  encodeMessage,
} from "./messages.js";
export type {
  Format,
  ParamValue,
  ClientMessage,
  Hello,
  ResumeRequest,
  Query,
  Ack,
  Cancel,
  Refresh,
  Refreshed,
  Column,
  ServerMessage,
  Welcome,
  Meta,
  End,
  ErrorMessage,
  Parsed,
} from "./messages.js";
export { encodeChunkHeader, decodeChunkFrame } from "./chunk-frame.js";
export type { Chunk, ChunkHeader } from "./chunk-frame.js";
export { csvField, csvHeader, parseCsvRows } from "./csv.js";
export { ERROR_CODES, errorCodeList, SluiceError, isErrorCode, echoName } from "./errors.js";
export type { ErrorCode } from "./errors.js";
export { tenantIsValid } from "./tenant.js";
