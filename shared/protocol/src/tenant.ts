/** Tenants are PostgreSQL schemas: a plain identifier, never a system schema. */
const TENANT_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** True when `tenant` can name a tenant's schema (the edge refuses a token whose tenant cannot). */
export function tenantIsValid(tenant: string): boolean {
  const lower = tenant.toLowerCase();
  return TENANT_PATTERN.test(tenant) && !lower.startsWith("pg_") && lower !== "information_schema";
}
