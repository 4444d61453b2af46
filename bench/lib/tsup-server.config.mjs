// Used by `bench/http.mjs --fresh-build`: builds the current packages/server sources into
// bench/.server-build/dist (run with cwd packages/server), leaving packages/server/dist alone.
// Same settings as packages/server/tsup.config.ts minus the type declarations and the CLI.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export default {
  entry: ['src/index.ts'],
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
  dts: false,
  outDir: path.resolve(here, '..', '.server-build', 'dist'),
};
