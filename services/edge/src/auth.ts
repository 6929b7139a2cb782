import { errors as joseErrors, jwtVerify } from "jose";
import { SluiceError } from "@sluice/protocol";

/** Who a socket acts for, taken from its verified token only. */
export interface Identity {
  readonly tenant: string;
  readonly subject: string;
  /** Epoch seconds after which the token is no longer valid. */
  readonly expiresAt: number;
}

/** Allowed clock difference between token issuer and edge. */
const CLOCK_TOLERANCE_S = 5;

export interface Authenticator {
  verify(token: string): Promise<Identity>;
}

/** HS256 tokens signed with a shared secret; `tenant` and `exp` are required. */
export function hs256Authenticator(secret: string): Authenticator {
  const key = new TextEncoder().encode(secret);
  return {
    async verify(token: string): Promise<Identity> {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ["HS256"],
          clockTolerance: CLOCK_TOLERANCE_S,
          requiredClaims: ["exp"],
        }));
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) throw new SluiceError("AUTH_EXPIRED", undefined, { cause: error });
        throw new SluiceError("AUTH_INVALID", undefined, { cause: error });
      }
      const { tenant, sub, exp } = payload;
      if (typeof tenant !== "string" || tenant.length === 0) {
        throw new SluiceError("AUTH_INVALID", "The token has no tenant claim");
      }
      return { tenant, subject: typeof sub === "string" ? sub : "", expiresAt: exp ?? 0 };
    },
  };
}
