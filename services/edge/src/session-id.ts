import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Identity } from "./auth.js";

/**
 * A session id is 128 random bits (unguessable) followed by a 64-bit MAC of those bits with the
 * tenant and subject, so any edge holding the shared session key can tell that a resuming client
 * is the session's owner. 48 hex characters: safe as a NATS subject token.
 */
function sessionMac(key: string, random: string, identity: Identity): string {
  return createHmac("sha256", key).update(`${random}\n${identity.tenant}\n${identity.subject}`).digest("hex").slice(0, 16);
}

export function newSessionId(key: string, identity: Identity): string {
  const random = randomBytes(16).toString("hex");
  return `${random}${sessionMac(key, random, identity)}`;
}

export function ownsSession(key: string, session: string, identity: Identity): boolean {
  const expected = Buffer.from(sessionMac(key, session.slice(0, 32), identity));
  const given = Buffer.from(session.slice(32));
  return given.length === expected.length && timingSafeEqual(given, expected);
}
