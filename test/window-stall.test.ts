import { describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect } from "@sluice/client";
import { useTestStack } from "./fixtures/stack.js";

/**
 * A result with more frames than the window: the edge's relay holds `window` frames unacked and
 * receives the rest as the client acks. Every such result must run to its end; none may sit
 * waiting for a frame that is already stored.
 */

const TENANT = "acme";
const QUERIES = 100;
/** A small result takes milliseconds; one that has not ended by then is stuck. */
const STUCK_MS = 5_000;

const stack = useTestStack({
  workers: 1,
  // meta, one chunk and end: three frames through a window of two.
  env: { SLUICE_WINDOW: "2" },
  datasets: { small: { sql: "SELECT g FROM generate_series(1, 5) AS g ORDER BY g" } },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme");
  },
});

describe("window", () => {
  test(`end - ${QUERIES} results of three frames through a window of two each end without getting stuck`, async () => {
    const s = stack();
    const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    try {
      for (let i = 1; i <= QUERIES; i++) {
        const stream = client.query("small");
        const rows = (async (): Promise<unknown[]> => {
          const got: unknown[] = [];
          for await (const row of stream.rows()) got.push(row);
          return got;
        })();
        let timer: NodeJS.Timeout | undefined;
        const stuck = new Promise<"stuck">((resolve) => (timer = setTimeout(() => resolve("stuck"), STUCK_MS)));
        const outcome = await Promise.race([rows, stuck]);
        clearTimeout(timer);
        if (outcome === "stuck") await stream.cancel();
        expect(outcome, `query ${i} of ${QUERIES}`).toEqual([["1"], ["2"], ["3"], ["4"], ["5"]]);
      }
    } finally {
      client.close();
    }
  });
});
