import { z } from 'zod';
import { Timestamp } from './common.js';
import { Scope } from './scopes.js';

export const ApiKey = z
  .object({
    id: z.string(),
    object: z.literal('api_key'),
    name: z.string(),
    prefix: z.string().meta({ description: 'First characters of the secret, for recognising it' }),
    last4: z.string(),
    scopes: z.array(Scope),
    rate_limit_per_minute: z.number().int().nullable(),
    created_by: z.string().nullable(),
    created_at: Timestamp,
    expires_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    last_used_at: Timestamp.nullable(),
  })
  .meta({ id: 'ApiKey' });
export type ApiKey = z.infer<typeof ApiKey>;

export const CreateApiKeyRequest = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    scopes: z.array(Scope).min(1).max(64),
    expires_at: Timestamp.optional().meta({ description: 'Must be in the future' }),
    rate_limit_per_minute: z.number().int().min(1).max(1_000_000).optional(),
  })
  .meta({
    id: 'CreateApiKeyRequest',
    example: { name: 'CRM backend', scopes: ['conversations:read', 'blacklist:write'] },
  });
export type CreateApiKeyRequest = z.input<typeof CreateApiKeyRequest>;

export const CreatedApiKey = ApiKey.extend({
  secret: z.string().meta({ description: 'The key itself (`adk_...`). Shown once, never again.' }),
}).meta({ id: 'CreatedApiKey' });
export type CreatedApiKey = z.infer<typeof CreatedApiKey>;

export const USAGE_GRANULARITIES = ['minute', 'hour', 'day'] as const;

export const ApiKeyUsageQuery = z.object({
  from: Timestamp.optional().meta({ description: 'Default: 24 h before `to`' }),
  to: Timestamp.optional().meta({ description: 'Default: now' }),
  granularity: z.enum(USAGE_GRANULARITIES).default('hour'),
});

export const ApiKeyUsage = z
  .object({
    object: z.literal('api_key_usage'),
    key_id: z.string(),
    granularity: z.enum(USAGE_GRANULARITIES),
    from: Timestamp,
    to: Timestamp,
    total: z.number().int(),
    last_used_at: Timestamp.nullable(),
    buckets: z.array(z.object({ start: Timestamp, count: z.number().int() })),
  })
  .meta({ id: 'ApiKeyUsage' });
export type ApiKeyUsage = z.infer<typeof ApiKeyUsage>;
