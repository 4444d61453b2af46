import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** This package's version (from package.json, beside src/ and dist/). */
export const VERSION: string = (() => {
  try {
    return (require('../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
