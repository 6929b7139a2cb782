import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DevstackError } from "./errors.js";
import { freePort, portIsFree } from "./free-port.js";
import { startService } from "./processes.js";

/** A stand-in service honouring the contract: port from env, /readyz, JSON logs, SIGTERM drains. */
const FAKE_SERVICE = `
import { createServer } from "node:http";
const kind = process.argv[1].includes("edge") ? "edge" : "worker";
const port = Number(process.env[kind === "edge" ? "SLUICE_EDGE_PORT" : "SLUICE_WORKER_PORT"]);
if (process.env.FAKE_FAIL) { console.error("boom: " + process.env.FAKE_FAIL); process.exit(3); }
let ready = false;
setTimeout(() => (ready = true), 300);
const server = createServer((req, res) => {
  if (req.url === "/readyz") { res.statusCode = ready ? 200 : 503; res.end(); return; }
  if (req.url === "/env") { res.end(JSON.stringify({ greeting: process.env.FAKE_GREETING })); return; }
  res.statusCode = 404; res.end();
});
server.listen(port, () => console.log(JSON.stringify({ level: 30, msg: "listening", port })));
process.on("SIGTERM", () => { console.log(JSON.stringify({ level: 30, msg: "draining" })); server.close(() => process.exit(0)); });
`;

describe("startService", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "devstack-services-"));
    for (const kind of ["edge", "worker"]) {
      mkdirSync(join(root, "services", kind, "dist"), { recursive: true });
      writeFileSync(join(root, "services", kind, "dist", "main.js"), FAKE_SERVICE);
    }
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("startService - passes env and a free port, resolves ready on /readyz 200, stops on SIGTERM", async () => {
    const lines: string[] = [];
    const worker = await startService("worker", { FAKE_GREETING: "hi" }, { root, onLine: (l) => lines.push(l) });
    await worker.ready;
    const env = (await (await fetch(`http://127.0.0.1:${worker.port}/env`)).json()) as { greeting: string };
    expect(env.greeting).toBe("hi");
    expect(await worker.stop()).toBe(0);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["listening", "draining"]);
    expect(await portIsFree(worker.port)).toBe(true);
  });

  test("startService - the edge listens on the SLUICE_EDGE_PORT it is given", async () => {
    const port = await freePort();
    const edge = await startService("edge", { SLUICE_EDGE_PORT: String(port) }, { root });
    expect(edge.port).toBe(port);
    await edge.ready;
    expect(await edge.stop()).toBe(0);
  });

  test("startService - kill() ends the process with SIGKILL", async () => {
    const worker = await startService("worker", {}, { root });
    await worker.ready;
    worker.kill();
    expect(await worker.exited).toBe(128 + 9);
  });

  test("startService - a service exiting before ready rejects ready with SERVICE_EXITED and its output", async () => {
    const worker = await startService("worker", { FAKE_FAIL: "no config" }, { root });
    const error = await worker.ready.catch((e: unknown) => e);
    expect((error as DevstackError).code).toBe("SERVICE_EXITED");
    expect((error as Error).message).toContain("boom: no config");
    expect(await worker.exited).toBe(3);
  });

  test("startService - a service that was not built is SERVICE_NOT_BUILT", async () => {
    const error = await startService("edge", {}, { root: tmpdir() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DevstackError);
    expect((error as DevstackError).code).toBe("SERVICE_NOT_BUILT");
  });
});
