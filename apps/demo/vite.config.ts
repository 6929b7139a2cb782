import { defineConfig } from "vite";

// Relative asset URLs: the page works under any path the dev stack serves it from.
export default defineConfig({
  base: "./",
  build: { outDir: "dist/page", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  oxc: { jsx: { runtime: "automatic" } },
});
