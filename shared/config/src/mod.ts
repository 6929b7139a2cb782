export { loadConfig, parseConfig, bindParams, ConfigError } from "./config.js";
export type { SluiceConfig, DatabaseConfig, DatasetConfig, ParamConfig, LoadOptions } from "./config.js";
export { PARAM_TYPES, coerceParam } from "./param-types.js";
export type { ParamType } from "./param-types.js";
export { edgeSettings, workerSettings, ENV_VARS } from "./settings.js";
export type { CommonSettings, EdgeSettings, WorkerSettings, AuthSettings, TokenKeys } from "./settings.js";
