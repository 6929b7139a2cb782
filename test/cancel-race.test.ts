import { setTimeout as sleep } from "node:timers/promises";
import { connect as connectNats, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { natsNames, requestKey } from "@sluice/broker";
import { connect, type SluiceClient } from "@sluice/client";
import { gridTableSql } from "@sluice/devstack";
import { busyWorkerBackends, busyWorkerBackendsAt } from "./fixtures/activity.js";
import { useTestStack } from "./fixtures/stack.js";

/**
 * An edge tells a request's worker "acked" (a client ack opened the window: publish again) and
 * "cancel" on the request's flow subject. A cancel may come at any moment, including while the
 * worker is storing a chunk that a nudge let it try; it must never be missed. This test speaks
 * on the flow subject the way an edge does, so that the cancel lands in exactly that moment.
 */

const TENANT = "acme";
const GRID_SQL = "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id";
const TRIALS = 10;
/** A worker acts on a cancel in milliseconds; waiting out its 1 s publish retry is the failure. */
const RELEASE_WITHIN_MS = 500;

const stack = useTestStack({
  workers: 1,
  env: { SLUICE_WINDOW: "2", SLUICE_CHUNK_BYTES: "16384" },
  datasets: { grid: { sql: GRID_SQL, params: [{ name: "after", type: "int8" }], key: "id" } },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme; SET search_path TO acme");
    await db.query(gridTableSql(20_000, 9));
    await db.query("VACUUM acme.grid");
    await db.query("ANALYZE acme.grid (id)");
  },
});

let client: SluiceClient;
let nc: NatsConnection;
beforeAll(async () => {
  const s = stack();
  client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
  nc = await connectNats({ servers: s.natsUrl });
});
afterAll(async () => {
  client?.close();
  await nc?.close();
});

describe("cancel race", () => {
  test("flow - a cancel that arrives while a nudged worker retries a full window is not lost", async () => {
    const s = stack();
    const names = natsNames(s.natsPrefix);
    for (let trial = 1; trial <= TRIALS; trial++) {
      const stream = client.query("grid");
      const chunks = stream[Symbol.asyncIterator]();
      for (let i = 0; i < 4; i++) expect((await chunks.next()).done).toBe(false);
      // The client reads no further: the worker fills the window and waits for a nudge.
      await sleep(30);
      expect(await busyWorkerBackends(s)).toHaveLength(1);
      const flow = names.flowSubject(requestKey(client.session, stream.id));
      // A nudge makes the worker publish into its still-full window; the cancel follows on its heels.
      nc.publish(flow, "acked");
      await nc.flush();
      const spinUntil = performance.now() + (trial % 5) * 0.1;
      while (performance.now() < spinUntil);
      nc.publish(flow, "cancel");
      await nc.flush();
      const cancelledAt = performance.now();
      expect(await busyWorkerBackendsAt(s, cancelledAt + RELEASE_WITHIN_MS), `cancel ${trial} of ${TRIALS}`).toEqual([]);
      // What the edge would do next for a client's cancel: purge the subject and answer CANCELLED.
      await stream.cancel();
    }
  });
});
