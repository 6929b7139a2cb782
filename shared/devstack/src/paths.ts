import { fileURLToPath } from "node:url";
import { join } from "node:path";

/**
 * The repository root: this file lives in shared/devstack/{src,dist}, three levels below it,
 * so the answer does not depend on the current directory.
 */
export function repoRoot(): string {
  return fileURLToPath(new URL("../../../", import.meta.url));
}

/** Where the dev stack keeps its state (database files, NATS store, config, logs): `<repo>/.sluice`. */
export function stateDir(root: string = repoRoot()): string {
  return join(root, ".sluice");
}
