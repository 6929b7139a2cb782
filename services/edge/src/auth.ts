import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { AuthSettings } from "@sluice/config";
import { SluiceError } from "@sluice/protocol";

/** Who a socket acts for, taken from its verified token only. */
export interface Identity {
  readonly tenant: string;
  readonly subject: string;
  /** Epoch seconds after which the token is no longer valid. */
  readonly expiresAt: number;
  /** Datasets the token may read; undefined: all of them. */
  readonly datasets: readonly string[] | undefined;
}

export interface Authenticator {
  /** Clock difference allowed on `exp` and `nbf`, in seconds. */
  readonly clockSkewS: number;
  verify(token: string): Promise<Identity>;
}

/** The only algorithms each mode accepts; `none` is never among them. */
const SECRET_ALGORITHMS = ["HS256"];
const JWKS_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/** Time allowed to fetch the key set; a slow identity provider must not hold hellos for long. */
const JWKS_TIMEOUT_MS = 5_000;

/** Checks tokens as the settings say: HS256 with the shared secret, or keys from the JWKS URL. */
export function createAuthenticator(settings: AuthSettings): Authenticator {
  const { keys } = settings;
  switch (keys.kind) {
    case "secret":
      return new TokenVerifier(new TextEncoder().encode(keys.secret), SECRET_ALGORITHMS, settings);
    case "jwks":
      return new TokenVerifier(createRemoteJWKSet(new URL(keys.url), { timeoutDuration: JWKS_TIMEOUT_MS }), JWKS_ALGORITHMS, settings);
    default: {
      const unknown: never = keys;
      throw new Error(`unknown token key kind ${JSON.stringify(unknown)}`);
    }
  }
}

/** Verifies signature, algorithm, `exp` (required), `nbf`, issuer and audience, then reads the claims. */
class TokenVerifier implements Authenticator {
  readonly clockSkewS: number;

  constructor(
    private readonly key: Uint8Array | JWTVerifyGetKey,
    private readonly algorithms: string[],
    private readonly settings: AuthSettings,
  ) {
    this.clockSkewS = settings.clockSkewS;
  }

  async verify(token: string): Promise<Identity> {
    const options = {
      algorithms: this.algorithms,
      clockTolerance: this.clockSkewS,
      requiredClaims: ["exp"],
      ...(this.settings.issuer === undefined ? {} : { issuer: this.settings.issuer }),
      ...(this.settings.audience === undefined ? {} : { audience: this.settings.audience }),
    };
    let payload: JWTPayload;
    try {
      // Two overloads (key or key getter); one call site each keeps the types exact.
      ({ payload } = this.key instanceof Uint8Array ? await jwtVerify(token, this.key, options) : await jwtVerify(token, this.key, options));
    } catch (error) {
      throw translateJoseError(error);
    }
    return identityOf(payload);
  }
}

/** A refused token is the client's problem; a key set out of reach (or broken) is ours. */
function translateJoseError(error: unknown): SluiceError {
  if (error instanceof joseErrors.JWTExpired) return new SluiceError("AUTH_EXPIRED", undefined, { cause: error });
  if (keySetUnavailable(error)) {
    return new SluiceError("SERVICE_UNAVAILABLE", "The token's keys could not be fetched, retry later", { cause: error });
  }
  return new SluiceError("AUTH_INVALID", undefined, { cause: error });
}

/** jose reports a failed fetch as the fetch's own error, a bad HTTP answer as its generic error. */
function keySetUnavailable(error: unknown): boolean {
  if (!(error instanceof joseErrors.JOSEError)) return true;
  return error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || error.code === "ERR_JOSE_GENERIC";
}

function identityOf(payload: JWTPayload): Identity {
  const { tenant, sub, exp, datasets } = payload;
  if (typeof tenant !== "string" || tenant.length === 0) {
    throw new SluiceError("AUTH_INVALID", "The token has no tenant claim");
  }
  if (datasets !== undefined && !(Array.isArray(datasets) && datasets.every((name) => typeof name === "string"))) {
    throw new SluiceError("AUTH_INVALID", "The token's datasets claim is not a list of names");
  }
  return { tenant, subject: typeof sub === "string" ? sub : "", expiresAt: exp ?? 0, datasets: datasets as string[] | undefined };
}
