export { DevstackError, DEVSTACK_ERROR_CODES, reasonOf } from "./errors.js";
export type { DevstackErrorCode } from "./errors.js";
export { freePort, portIsFree } from "./free-port.js";
export { repoRoot, stateDir } from "./paths.js";
export { containerRuntimeStatus, DEFAULT_RUNTIME_TIMEOUT_MS } from "./container-runtime.js";
export type { ContainerRuntimeStatus } from "./container-runtime.js";
export type { ObtainedService, ServiceSource } from "./obtained.js";
export { probePostgres, probeNats, DEFAULT_PROBE_TIMEOUT_MS } from "./probe.js";
export type { ProbeResult } from "./probe.js";
export { obtainPostgres, ensureDatabase, withDatabase, redact, POSTGRES_IMAGE, DEFAULT_DATABASE } from "./postgres.js";
export type { PostgresOptions } from "./postgres.js";
export { findPostgresBinaries, startLocalPostgres, DEFAULT_PG_READY_TIMEOUT_MS } from "./local-postgres.js";
export type { LocalPostgresOptions, PostgresBinaries } from "./local-postgres.js";
export { obtainNats, findNatsServer, NATS_IMAGE, DEFAULT_NATS_READY_TIMEOUT_MS } from "./nats.js";
export type { NatsOptions } from "./nats.js";
export { gridTableSql, gridColumns, GRID_KINDS, GRID_DATA_COLUMNS } from "./grid.js";
export type { GridColumn, GridKind } from "./grid.js";
export { loadDemoData, tenantSeed, DEMO_TENANTS, DEMO_ROWS, DEMO_DATA_VERSION } from "./demo-data.js";
export type { DemoDataOptions, TenantLoad } from "./demo-data.js";
export { demoConfigYaml } from "./demo-config.js";
export { OwnedProcess, DEFAULT_KEPT_LINES, DEFAULT_STOP_GRACE_MS } from "./owned-process.js";
export type { OwnedProcessOptions } from "./owned-process.js";
export {
  startService,
  serviceEntry,
  assertServiceBuilt,
  SERVICE_PORT_VARIABLES,
  DEFAULT_SERVICE_READY_TIMEOUT_MS,
  DEFAULT_SERVICE_STOP_GRACE_MS,
} from "./processes.js";
export type { ServiceKind, ServiceProcess, StartServiceOptions } from "./processes.js";
export { mintToken } from "./token.js";
export type { DemoTokenOptions } from "./token.js";
export { startStack } from "./stack.js";
export { DemoServer, demoDatasets, demoPageDir } from "./demo-server.js";
export type { DemoDataset, DemoPageSettings, DemoServerOptions } from "./demo-server.js";
export type { Stack, StackOptions } from "./stack.js";
export { LogFiles, isLoudLine } from "./log-files.js";
