#!/usr/bin/env node
import { createServer } from "node:http";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { AuditLog, ensureAuditStream, ensureStreams, natsNames } from "@sluice/broker";
import { loadConfig, workerSettings } from "@sluice/config";
import { createLogger, createRegistry, handleOpsRequest, onShutdown, watchNats } from "@sluice/runtime";
import { AuditWriter } from "./audit.js";
import { createWorkerMetrics } from "./metrics.js";
import { openSharedState, RunCounter, TenantSlots } from "./shared-state.js";
import { Worker } from "./worker.js";

/** Time SIGTERM gives running requests to finish before handing them over to other workers. */
const FINISH_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const settings = workerSettings(process.env);
  const config = loadConfig(settings.configPath, { env: process.env });
  const logger = createLogger("worker", settings.logLevel);

  const openPool = (name: string, url: string, max: number, applicationName: string): pg.Pool => {
    const pool = new pg.Pool({ connectionString: url, max, application_name: applicationName });
    pool.on("error", (error) => logger.warn({ err: error, database: name }, "idle database connection failed"));
    // A connection can fail at any moment of its life, leased or not, and after its lease ended
    // ('error' without a listener would end the process); leases see the failure themselves.
    pool.on("connect", (client) => client.on("error", (error) => logger.debug({ err: error, database: name }, "database connection failed")));
    return pool;
  };
  const pools = new Map<string, pg.Pool>();
  for (const [name, db] of Object.entries(config.databases)) {
    if (db.role !== "audit") pools.set(name, openPool(name, db.url, db.pool, "sluice-worker"));
  }
  const [auditName, auditDb] = Object.entries(config.databases).find(([, db]) => db.role === "audit") ?? [];
  const readPools = new Set(Object.values(config.datasets).map((d) => d.database));
  const slots = settings.slots ?? Math.max(1, ...[...readPools].map((name) => config.databases[name]?.pool ?? 1));

  const nc = await connect({ servers: settings.natsUrl.split(","), name: "sluice-worker", maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  const names = natsNames(settings.natsPrefix);
  await ensureStreams(jsm, names, { window: settings.window, requestLeaseMs: settings.requestLeaseMs, replicas: settings.streamReplicas });

  const registry = createRegistry("sluice_worker_");
  const metrics = createWorkerMetrics(registry, pools);
  watchNats(nc, metrics.natsConnected, logger);
  const js = jetstream(nc);

  // Audit records travel through a stream to the audit database, on a connection of their own.
  let audit: { log: AuditLog; writer: AuditWriter; pool: pg.Pool } | undefined;
  if (auditName && auditDb) {
    await ensureAuditStream(jsm, names, settings.streamReplicas);
    const pool = openPool(auditName, auditDb.url, Math.min(auditDb.pool, 2), "sluice-audit");
    const writer = new AuditWriter(await js.consumers.get(names.auditStream, names.auditConsumer), pool, logger, metrics);
    writer.start();
    audit = { log: new AuditLog(js, names, logger), writer, pool };
  }

  const state = await openSharedState(js, names, { ttlMs: 2 * settings.requestLeaseMs, replicas: settings.streamReplicas });
  const shared = {
    runs: new RunCounter(state),
    ...(settings.tenantMaxRunning > 0 ? { tenantSlots: new TenantSlots(state, settings.tenantMaxRunning) } : {}),
  };
  const worker = new Worker({ nc, js, jsm, names, pools, config, settings, logger, metrics, ...(audit ? { audit: audit.log } : {}) }, slots, shared);
  await worker.start();

  const server = createServer((req, res) => {
    const health = { live: () => true, ready: () => worker.ready };
    if (!handleOpsRequest(req, res, health, registry)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(settings.port, settings.host, resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : settings.port;
  logger.info({ port, slots, prefix: names.prefix }, "worker ready");

  onShutdown(logger, async () => {
    await worker.close(FINISH_TIMEOUT_MS);
    await audit?.writer.close();
    server.close();
    await nc.drain();
    await Promise.all([...pools.values(), ...(audit ? [audit.pool] : [])].map((pool) => pool.end()));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`sluice worker: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
