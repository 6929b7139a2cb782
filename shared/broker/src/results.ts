import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { encodeResultHeader } from "./messages.js";
import type { Names } from "./names.js";

const CANCELLED_MARKER = JSON.stringify({ code: "CANCELLED", message: "The request was cancelled" });

/**
 * Drops a request's result data. A stopped request keeps a small CANCELLED marker: a worker that
 * has not started it finds the subject taken and stops, and a late resume learns its fate.
 * `markerSeq` is the seq the client expects next, when the request's client may still read it.
 */
export async function discardResult(
  js: JetStreamClient,
  jsm: JetStreamManager,
  names: Names,
  key: string,
  options: { marker: boolean; markerSeq?: number },
): Promise<void> {
  const subject = names.resultSubject(key);
  await jsm.streams.purge(names.resultStream, { filter: subject });
  if (options.marker) await js.publish(subject, CANCELLED_MARKER, { headers: encodeResultHeader({ kind: "error", seq: options.markerSeq ?? 0, rows: 0 }) });
}
