/**
 * Open sockets per tenant on this edge, so that one tenant cannot take every socket an edge can
 * hold. A socket counts from its welcome to its close.
 */
export class TenantSockets {
  readonly #open = new Map<string, number>();

  constructor(private readonly maxPerTenant: number) {}

  /** Counts a socket for `tenant`; false (and not counted) when the tenant is at its limit. */
  acquire(tenant: string): boolean {
    const open = this.#open.get(tenant) ?? 0;
    if (open >= this.maxPerTenant) return false;
    this.#open.set(tenant, open + 1);
    return true;
  }

  release(tenant: string): void {
    const open = (this.#open.get(tenant) ?? 0) - 1;
    if (open > 0) this.#open.set(tenant, open);
    else this.#open.delete(tenant);
  }
}
