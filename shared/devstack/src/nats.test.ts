import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, test } from "vitest";
import { DevstackError } from "./errors.js";
import { obtainNats } from "./nats.js";
import { probeNats } from "./probe.js";
import { obtainTestServices } from "../../../test/fixtures/services.js";

describe("obtainNats", () => {
  test("obtainNats - starts a private local nats-server with JetStream on a free port and stops it", async () => {
    const storeDir = await mkdtemp(join(tmpdir(), "devstack-nats-test-"));
    const nats = await obtainNats({ docker: false, storeDir });
    try {
      expect(nats.source).toBe("local");
      expect(nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      expect(nats.url).not.toBe("nats://127.0.0.1:4222");
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.add({ name: "devstack_probe", subjects: ["devstack.probe"] });
      expect(info.config.name).toBe("devstack_probe");
      await nc.close();
      expect(existsSync(join(storeDir, "jetstream"))).toBe(true);
    } finally {
      await nats.stop();
    }
    expect((await probeNats(nats.url, 500)).ok).toBe(false);
    await rm(storeDir, { recursive: true, force: true });
  });

  test("obtainNats - without a store dir uses a temporary one", async () => {
    const nats = await obtainNats({ docker: false });
    await nats.stop();
    expect((await probeNats(nats.url, 500)).ok).toBe(false);
  });

  test("obtainNats - uses a given url that answers and never stops it", async () => {
    const { natsUrl } = await obtainTestServices();
    const nats = await obtainNats({ url: natsUrl });
    expect(nats).toMatchObject({ url: natsUrl, source: "given" });
    await nats.stop();
    expect((await probeNats(natsUrl)).ok).toBe(true);
  });

  test("obtainNats - a given url that does not answer is NATS_UNAVAILABLE", async () => {
    const error = await obtainNats({ url: "nats://127.0.0.1:1" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DevstackError);
    expect((error as DevstackError).code).toBe("NATS_UNAVAILABLE");
  });

  test("obtainNats - without Docker or binary says what is missing", async () => {
    const error = await obtainNats({ docker: false, binary: "/nonexistent/nats-server" }).catch((e: unknown) => e);
    expect((error as DevstackError).code).toBe("NATS_UNAVAILABLE");
    expect((error as Error).message).toContain("apt-get install nats-server");
    expect((error as Error).message).toContain("NATS_URL");
  });
});
