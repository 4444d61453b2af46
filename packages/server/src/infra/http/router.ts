import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './context.js';
import { fromZodError } from './errors.js';

/**
 * A capability's router. Validation failures throw, so every 400 goes through the one error
 * handler and carries the envelope.
 */
export function newRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw fromZodError(result.error, result.target);
    },
  });
}

/** Path parameter schema for `{id}` routes. */
export { z } from '@hono/zod-openapi';
