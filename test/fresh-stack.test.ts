import { describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect } from "@sluice/client";
import { useTestStack } from "./fixtures/stack.js";

/**
 * A stack whose results stream is brand new, as on a first deployment: the first request's meta
 * is stored at stream sequence 1. Its results must arrive like any other request's.
 */

const TENANT = "acme";
/** A request that has not ended by then never will: nothing in the stack retries it. */
const HANG_MS = 15_000;

const stack = useTestStack({
  workers: 1,
  // Many small chunks and a small window: the worker must wait for the client's acks, so its
  // later chunks are published after the edge has handled the ack of the meta.
  env: { SLUICE_WINDOW: "2", SLUICE_CHUNK_BYTES: "4096" },
  datasets: `
numbers:
  sql: SELECT g AS n, repeat('x', 40) AS pad FROM generate_series(1, 2000) AS g ORDER BY g
`,
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme");
  },
});

async function rowsWithin(promise: Promise<unknown[]>, ms: number): Promise<unknown[] | "hung"> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), ms)));
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

describe("fresh stack", () => {
  test("first request - completes on a results stream that has never held a message", async () => {
    const s = stack();
    const client = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    try {
      const collect = async (): Promise<unknown[]> => {
        const rows: unknown[] = [];
        for await (const row of client.query("numbers").rows()) rows.push(row);
        return rows;
      };
      const expected = Array.from({ length: 2000 }, (_, i) => [String(i + 1), "x".repeat(40)]);
      const first = await rowsWithin(collect(), HANG_MS);
      expect(first === "hung" ? "hung" : first.length).toBe(expected.length);
      expect(first).toEqual(expected);
      // The stream is no longer new: the same request then succeeds, so only the first one is at stake.
      const second = await rowsWithin(collect(), HANG_MS);
      expect(second === "hung" ? "hung" : second.length).toBe(expected.length);
      expect(second).toEqual(expected);
    } finally {
      client.close();
    }
  });
});
