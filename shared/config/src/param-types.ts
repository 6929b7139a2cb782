import { SluiceError, type ParamValue } from "@sluice/protocol";

/**
 * Parameter types a dataset may declare, by PostgreSQL type name, with the check applied to a
 * client's value before it is bound. Values are always bound as text and converted by PostgreSQL;
 * the check only turns bad input into a coded error early and cheaply.
 */
const INTEGER_RANGES = {
  int2: [-(2n ** 15n), 2n ** 15n - 1n],
  int4: [-(2n ** 31n), 2n ** 31n - 1n],
  int8: [-(2n ** 63n), 2n ** 63n - 1n],
} as const;

const PATTERNS = {
  numeric: /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^NaN$/,
  float: /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^(NaN|[+-]?Infinity)$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  timestamp: /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$/,
  timestamptz: /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/,
  uuid: /^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$/,
} as const;

export const PARAM_TYPES = [
  "int2",
  "int4",
  "int8",
  "numeric",
  "float4",
  "float8",
  "bool",
  "text",
  "varchar",
  "date",
  "timestamp",
  "timestamptz",
  "uuid",
  "json",
  "jsonb",
] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

function asText(value: Exclude<ParamValue, null>): string {
  return typeof value === "string" ? value : String(value);
}

function invalid(name: string, type: string): SluiceError {
  return new SluiceError("PARAM_INVALID", `Parameter "${name}" must be a ${type}`);
}

/** Returns the text to bind for a client's value, or throws PARAM_INVALID. */
export function coerceParam(name: string, type: ParamType, value: Exclude<ParamValue, null>): string {
  switch (type) {
    case "int2":
    case "int4":
    case "int8": {
      if (typeof value === "number" && !Number.isSafeInteger(value)) throw invalid(name, type);
      const text = asText(value);
      if (!/^[+-]?\d{1,20}$/.test(text)) throw invalid(name, type);
      const [min, max] = INTEGER_RANGES[type];
      const n = BigInt(text);
      if (n < min || n > max) throw invalid(name, type);
      return n.toString();
    }
    case "numeric":
    case "float4":
    case "float8": {
      if (typeof value === "boolean") throw invalid(name, type);
      const text = asText(value);
      if (!(type === "numeric" ? PATTERNS.numeric : PATTERNS.float).test(text)) throw invalid(name, type);
      return text;
    }
    case "bool":
      if (typeof value === "boolean") return value ? "true" : "false";
      if (value === "true" || value === "false") return value;
      throw invalid(name, type);
    case "text":
    case "varchar":
      if (typeof value !== "string" || value.includes("\u0000")) throw invalid(name, type);
      return value;
    case "date":
    case "timestamp":
    case "timestamptz":
    case "uuid":
      if (typeof value !== "string" || !PATTERNS[type].test(value)) throw invalid(name, type);
      return value;
    case "json":
    case "jsonb":
      if (typeof value !== "string") return JSON.stringify(value);
      try {
        JSON.parse(value);
      } catch (cause) {
        throw new SluiceError("PARAM_INVALID", `Parameter "${name}" must be JSON text`, { cause });
      }
      return value;
    default: {
      const unreachable: never = type;
      throw new Error(`unknown parameter type ${String(unreachable)}`);
    }
  }
}
