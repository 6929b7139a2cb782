/**
 * The one registry of error codes that cross the wire. Codes are stable: clients branch on them.
 * `close` is set where the error also closes the socket (with that websocket close code).
 */
export const ERROR_CODES = {
  BAD_FRAME: { message: "The frame is not a valid protocol message", close: undefined },
  UNSUPPORTED_VERSION: { message: "The protocol version is not supported", close: 4400 },
  HELLO_REQUIRED: { message: "The first message must be hello", close: 4401 },
  AUTH_INVALID: { message: "The token is invalid", close: 4401 },
  AUTH_EXPIRED: { message: "The token has expired", close: 4401 },
  UNKNOWN_DATASET: { message: "No such dataset", close: undefined },
  DATASET_FORBIDDEN: { message: "The token does not allow this dataset", close: undefined },
  PARAM_MISSING: { message: "A required parameter is missing", close: undefined },
  PARAM_INVALID: { message: "A parameter has the wrong type or format", close: undefined },
  PARAM_UNKNOWN: { message: "The dataset has no such parameter", close: undefined },
  DUPLICATE_REQUEST: { message: "A request with this id is already running on this session", close: undefined },
  UNKNOWN_REQUEST: { message: "No such request on this session", close: undefined },
  TOO_MANY_REQUESTS: { message: "Too many requests running or waiting on this socket", close: undefined },
  TOO_MANY_SOCKETS: { message: "Too many sockets for this tenant on this edge", close: 4429 },
  TOO_MANY_FRAMES: { message: "The socket sent frames faster than allowed", close: 1008 },
  TENANT_INVALID: { message: "The tenant is not a valid schema name", close: undefined },
  TENANT_UNKNOWN: { message: "The tenant does not exist", close: undefined },
  QUERY_FAILED: { message: "The query failed", close: undefined },
  QUERY_TIMEOUT: { message: "The query took longer than the statement timeout", close: undefined },
  ROW_TOO_LARGE: { message: "A row is larger than the largest chunk", close: undefined },
  CANCELLED: { message: "The request was cancelled", close: undefined },
  SESSION_MOVED: { message: "The session was resumed on another connection", close: 4409 },
  RESUME_FAILED: { message: "The session or request can no longer be resumed", close: undefined },
  WORKER_LOST: { message: "The worker running the request stopped and the request cannot be resumed", close: undefined },
  DATABASE_UNAVAILABLE: { message: "The database is unavailable", close: undefined },
  SERVICE_UNAVAILABLE: { message: "The service is unavailable, retry later", close: 1013 },
  INTERNAL: { message: "Internal error", close: undefined },
} as const satisfies Record<string, { message: string; close: number | undefined }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** All codes, for schemas and documentation checks. */
export const errorCodeList = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** An error that carries a stable code; its message is safe to show to the client. */
export class SluiceError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERROR_CODES[code].message, options);
    this.name = "SluiceError";
    this.code = code;
  }
}

const PLAIN_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A name the client sent, fit to repeat in an error message: quoted when it is a plain name,
 * left out otherwise, so arbitrary client text is never reflected back.
 */
export function echoName(name: string): string {
  return PLAIN_NAME.test(name) ? `"${name}"` : "(name not shown)";
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CODES, value);
}
