export { createLogger } from "./logger.js";
export type { Logger } from "./logger.js";
export { createRegistry, handleOpsRequest } from "./http-endpoints.js";
export type { Health } from "./http-endpoints.js";
export { onShutdown } from "./shutdown.js";
export { watchNats } from "./nats-health.js";
export type { NatsStatusSource } from "./nats-health.js";
