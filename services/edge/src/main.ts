#!/usr/bin/env node
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { AuditLog, ensureAuditStream, ensureStreams, natsNames } from "@sluice/broker";
import { edgeSettings, loadConfig } from "@sluice/config";
import { createLogger, createRegistry, onShutdown, watchNats } from "@sluice/runtime";
import { createAuthenticator } from "./auth.js";
import { EdgeServer } from "./edge-server.js";
import { SessionRegistry } from "./session-registry.js";
import { createEdgeMetrics } from "./metrics.js";
import { TenantSockets } from "./tenant-sockets.js";

async function main(): Promise<void> {
  const settings = edgeSettings(process.env);
  const config = loadConfig(settings.configPath, { env: process.env, databaseUrls: "optional" });
  const logger = createLogger("edge", settings.logLevel);

  const nc = await connect({ servers: settings.natsUrl.split(","), name: "sluice-edge", maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  const names = natsNames(settings.natsPrefix);
  await ensureStreams(jsm, names, { window: settings.window, requestLeaseMs: settings.requestLeaseMs, replicas: settings.streamReplicas });

  // With an audit database, requests refused here are recorded too (workers record the rest).
  const audited = Object.values(config.databases).some((db) => db.role === "audit");
  if (audited) await ensureAuditStream(jsm, names, settings.streamReplicas);

  const registry = createRegistry("sluice_edge_");
  const metrics = createEdgeMetrics(registry);
  watchNats(nc, metrics.natsConnected, logger);
  const server = new EdgeServer(
    {
      nc,
      js: jetstream(nc),
      jsm,
      names,
      window: settings.window,
      logger,
      metrics,
      config,
      authenticator: createAuthenticator(settings.auth),
      helloTimeoutMs: settings.helloTimeoutMs,
      heartbeatMs: settings.heartbeatMs,
      registry: new SessionRegistry(nc, names, settings.resumeGraceMs),
      sessionKey: settings.sessionKey,
      tenantSockets: new TenantSockets(settings.maxSocketsPerTenant),
      maxRequestsPerSocket: settings.maxRequestsPerSocket,
      maxQueuedPerSocket: settings.maxQueuedPerSocket,
      maxFramesPerSecond: settings.maxFramesPerSecond,
      ...(audited ? { audit: new AuditLog(jetstream(nc), names, logger) } : {}),
    },
    registry,
    settings,
  );
  await server.listen();
  logger.info({ port: server.port, prefix: names.prefix }, "edge ready");

  onShutdown(logger, async () => {
    await server.close();
    await nc.drain();
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`sluice edge: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
