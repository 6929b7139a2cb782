/** Where an obtained PostgreSQL or NATS comes from. */
export type ServiceSource = "given" | "container" | "local";

/** A PostgreSQL or NATS server ready for use; `stop()` ends it if this package started it. */
export interface ObtainedService {
  readonly url: string;
  readonly source: ServiceSource;
  stop(): Promise<void>;
}
