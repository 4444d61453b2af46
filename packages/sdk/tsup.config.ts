import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  // Runs in browsers as well as Node: no Node built-ins, no runtime dependency.
  platform: 'neutral',
  target: 'es2022',
});
