import { getContainerRuntimeClient } from "testcontainers";

/** How long to wait for a Docker engine to answer before treating it as absent. Default 3 s. */
export const DEFAULT_RUNTIME_TIMEOUT_MS = 3_000;

/** The outcome of looking for a Docker engine: usable, or why not. */
export type ContainerRuntimeStatus = { readonly available: true } | { readonly available: false; readonly reason: string };

/**
 * Asks testcontainers for a container runtime (DOCKER_HOST, ~/.testcontainers.properties, the
 * Docker socket…), giving up after `timeoutMs` so a dead remote engine cannot hang startup.
 */
export async function containerRuntimeStatus(timeoutMs = DEFAULT_RUNTIME_TIMEOUT_MS): Promise<ContainerRuntimeStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return { available: true };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
