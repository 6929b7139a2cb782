/**
 * Stable codes for what the dev stack cannot do, each with the advice a developer needs.
 * The message says what is missing and how to get it; `cause` keeps the underlying error.
 */
export const DEVSTACK_ERROR_CODES = {
  POSTGRES_UNAVAILABLE: "PostgreSQL cannot be had",
  NATS_UNAVAILABLE: "NATS cannot be had",
  SERVICE_NOT_BUILT: "a service has not been built",
  SERVICE_EXITED: "a service exited",
  SERVICE_NOT_READY: "a service did not become ready in time",
  PROCESS_FAILED: "a helper process failed",
  DEMO_DATA_CONFLICT: "demo data would overwrite data it did not create",
  DEMO_NOT_BUILT: "the demo page has not been built",
} as const;

export type DevstackErrorCode = keyof typeof DEVSTACK_ERROR_CODES;

/** The one error class of this package; `code` is stable, `message` is for people. */
export class DevstackError extends Error {
  readonly code: DevstackErrorCode;

  constructor(code: DevstackErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DevstackError";
    this.code = code;
  }
}

/** The message of anything thrown, for inclusion in a clearer message. */
export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
