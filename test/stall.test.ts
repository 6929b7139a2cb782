import { readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as connectNats } from "@nats-io/transport-node";
import { describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { connect } from "@sluice/client";
import { natsNames } from "@sluice/broker";
import { useTestStack } from "./fixtures/stack.js";

/**
 * A client that stops reading a 1,000,000-row result costs a paused cursor and nothing else:
 * the services' memory and the request's stored bytes stay bounded while another client on the
 * same edge streams normally.
 */

const TENANT = "acme";
const STALL_MS = 20_000;
const WINDOW = 4;
const CHUNK_BYTES = 65_536;
/** Documented bounds (README, "Delivery and flow control"). */
const RSS_LIMIT_MB = 150;
/** Two requests (stalled and neighbour) may each hold the window plus the last acked chunk. */
const STORED_LIMIT = 2 * (WINDOW + 1) * (CHUNK_BYTES + 1024);

const stack = useTestStack({
  workers: 2,
  env: { SLUICE_WINDOW: String(WINDOW), SLUICE_CHUNK_BYTES: String(CHUNK_BYTES) },
  datasets: {
    million: { sql: "SELECT g AS id, md5(g::text) AS h, g * 2 AS twice FROM generate_series(1, 1000000) AS g" },
    small: { sql: "SELECT g AS id, repeat('y', 100) AS pad FROM generate_series(1, 20000) AS g" },
  },
  setup: async (db) => {
    await db.query("CREATE SCHEMA acme");
  },
});

function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

describe("stalled client", () => {
  test("a client that stops acking for 20 s pauses its cursor; memory and stored bytes stay bounded; a neighbour streams on", async () => {
    const s = stack();
    const nc = await connectNats({ servers: s.natsUrl });
    const jsm = await jetstreamManager(nc);
    const names = natsNames(s.natsPrefix);
    const stalled = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    const neighbour = await connect({ url: s.url, token: await s.token(TENANT), WebSocket });
    try {
      const stream = stalled.query("million");
      const chunks = stream[Symbol.asyncIterator]();
      for (let i = 0; i < 3; i++) await chunks.next();
      const subject = names.resultSubject(`${stalled.session}.${stream.id}`);
      const pids = [s.edges[0]?.pid ?? 0, ...s.workers.map((w) => w.pid)];
      let peakRss = 0;
      let peakStored = 0;
      let peakStalledMessages = 0;
      const sample = async (): Promise<void> => {
        peakRss = Math.max(peakRss, ...pids.map(rssMb));
        const info = await jsm.streams.info(names.resultStream, { subjects_filter: subject });
        peakStored = Math.max(peakStored, info.state.bytes); // the whole stream: both requests
        peakStalledMessages = Math.max(peakStalledMessages, info.state.subjects?.[subject] ?? 0);
      };
      const stallEnds = Date.now() + STALL_MS;
      // Meanwhile a neighbour on the same edge streams a whole result, several times over.
      let neighbourRows = 0;
      const neighbourRuns = (async () => {
        while (Date.now() < stallEnds - 2_000) {
          for await (const _row of neighbour.query("small").rows()) neighbourRows++;
        }
      })();
      while (Date.now() < stallEnds) {
        await sample();
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await neighbourRuns;
      console.info(`stalled 20 s: peak RSS ${peakRss.toFixed(0)} MB (edge and workers), peak stream bytes ${peakStored}, stalled request's stored chunks ${peakStalledMessages}; neighbour read ${neighbourRows} rows`);
      expect(peakRss).toBeLessThan(RSS_LIMIT_MB);
      expect(peakStored).toBeLessThanOrEqual(STORED_LIMIT);
      expect(peakStalledMessages).toBeGreaterThan(0);
      expect(peakStalledMessages).toBeLessThanOrEqual(WINDOW + 1);
      expect(neighbourRows).toBeGreaterThanOrEqual(20_000);
      expect(neighbourRows % 20_000).toBe(0);
      // The stalled request is alive and resumes when its client reads again.
      const next = await chunks.next();
      expect(next.done).toBe(false);
      await stream.cancel();
    } finally {
      stalled.close();
      neighbour.close();
      await nc.close();
    }
  });
});
