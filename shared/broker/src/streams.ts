import {
  AckPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Names } from "./names.js";

const HOUR_MS = 3_600_000;
/** Largest message the result stream accepts; chunks are capped well below it. */
export const MAX_RESULT_MESSAGE_BYTES = 1024 * 1024;

export interface StreamOptions {
  /** Unacked chunks a worker may have in the stream per request. */
  readonly window: number;
  /** A worker holding a request must report progress within this time or the request is redelivered. */
  readonly requestLeaseMs: number;
  /** Copies of each stream in a JetStream cluster. Default 1. */
  readonly replicas?: number;
}

/** Stream settings, all in one place. */
export function streamConfigs(names: Names, options: StreamOptions): (Partial<StreamConfig> & { name: string })[] {
  return [
    {
      name: names.requestStream,
      subjects: [names.requestFilter],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_age: nanos(HOUR_MS),
      duplicate_window: nanos(120_000),
      max_msg_size: 64 * 1024,
      num_replicas: options.replicas ?? 1,
    },
    {
      // One subject per request. discard_new_per_subject makes the server refuse a chunk once a
      // request has `window` unacked chunks stored (plus the last acked one, kept as the cursor):
      // the window is enforced by the server, not by goodwill.
      name: names.resultStream,
      subjects: [names.resultFilter],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
      max_msgs_per_subject: options.window + 1,
      max_age: nanos(24 * HOUR_MS),
      duplicate_window: nanos(120_000),
      max_msg_size: MAX_RESULT_MESSAGE_BYTES,
      num_replicas: options.replicas ?? 1,
    },
  ];
}

/** Audit records wait this long for the audit database before they are dropped. */
const AUDIT_MAX_AGE_MS = 7 * 24 * HOUR_MS;

/** Creates `config`'s stream, or updates it to `config`. */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== 10059) throw error;
    await jsm.streams.add(config);
  }
}

/**
 * The audit stream and its writers' consumer: records wait there, durably, until a worker has
 * written them to the audit database (a week at most). The request key is the message id, so a
 * record published twice is stored once.
 */
export async function ensureAuditStream(jsm: JetStreamManager, names: Names, replicas = 1): Promise<void> {
  await ensureStream(jsm, {
    name: names.auditStream,
    subjects: [names.auditSubject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    max_age: nanos(AUDIT_MAX_AGE_MS),
    duplicate_window: nanos(120_000),
    max_msg_size: 64 * 1024,
    num_replicas: replicas,
  });
  const writers = { durable_name: names.auditConsumer, ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_deliver: -1 };
  try {
    await jsm.consumers.add(names.auditStream, writers);
  } catch (error) {
    if (!(error instanceof JetStreamApiError)) throw error;
  }
}

/** Creates the streams and the workers' consumer, or updates them to the current settings. */
export async function ensureStreams(jsm: JetStreamManager, names: Names, options: StreamOptions): Promise<void> {
  for (const config of streamConfigs(names, options)) await ensureStream(jsm, config);
  const workers = {
    durable_name: names.workerConsumer,
    filter_subject: names.requestFilter,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(options.requestLeaseMs),
    // Unlimited: a request whose tenant is at its limit goes back to wait (nak) as often as needed.
    max_deliver: -1,
    max_ack_pending: 10_000,
  };
  try {
    await jsm.consumers.add(names.requestStream, workers);
  } catch (error) {
    if (!(error instanceof JetStreamApiError)) throw error;
    await jsm.consumers.update(names.requestStream, names.workerConsumer, { ack_wait: workers.ack_wait, max_deliver: -1, max_ack_pending: 10_000 });
  }
}
