import { z } from 'zod';
import { Timestamp } from './common.js';
import { Platform } from './platforms.js';

export const MAX_BLACKLIST_BATCH = 1000;

const UserId = z.string().trim().min(1, 'must not be empty').max(200);
const Reason = z.string().trim().max(1000);

export const BlacklistEntry = z
  .object({
    id: z.string(),
    object: z.literal('blacklist_entry'),
    platform: Platform,
    platform_user_id: z.string(),
    reason: z.string().nullable(),
    expires_at: Timestamp.nullable(),
    active: z.boolean().meta({ description: 'false once expires_at has passed' }),
    operator: z.string().meta({ description: 'Who added it: member:usr_…, api_key:key_…' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'BlacklistEntry' });
export type BlacklistEntry = z.infer<typeof BlacklistEntry>;

export const CreateBlacklistEntryRequest = z
  .strictObject({
    platform: Platform,
    platform_user_id: UserId,
    reason: Reason.optional().meta({
      description: 'Optional, but say why: agents see it when a user is blocked',
    }),
    expires_at: Timestamp.optional().meta({
      description: 'Must be in the future; omit for a permanent entry',
    }),
  })
  .meta({
    id: 'CreateBlacklistEntryRequest',
    example: {
      platform: 'qq',
      platform_user_id: '10001',
      reason: 'abusive language',
      expires_at: '2099-01-01T00:00:00.000Z',
    },
  });
export type CreateBlacklistEntryRequest = z.input<typeof CreateBlacklistEntryRequest>;

export const BatchCreateBlacklistRequest = z
  .strictObject({
    entries: z
      .array(z.unknown())
      .min(1)
      .max(MAX_BLACKLIST_BATCH, `at most ${MAX_BLACKLIST_BATCH} entries per batch`),
  })
  .meta({
    id: 'BatchCreateBlacklistRequest',
    example: {
      entries: [
        { platform: 'qq', platform_user_id: '10001', reason: 'spam' },
        { platform: 'wecom', platform_user_id: 'zhangsan' },
      ],
    },
  });

export const BatchItemResult = z
  .object({
    index: z.number().int(),
    status: z.enum(['created', 'updated', 'invalid']),
    entry: BlacklistEntry.optional(),
    error: z
      .object({ code: z.string(), message: z.string(), param: z.string().optional() })
      .optional(),
  })
  .meta({ id: 'BlacklistBatchItemResult' });

export const BatchCreateBlacklistResult = z
  .object({
    object: z.literal('blacklist_batch_result'),
    created: z.number().int(),
    updated: z.number().int(),
    invalid: z.number().int(),
    revision: z.number().int(),
    results: z.array(BatchItemResult),
  })
  .meta({ id: 'BlacklistBatchResult' });

export const BatchDeleteBlacklistRequest = z
  .strictObject({
    ids: z.array(z.string().min(1).max(64)).max(MAX_BLACKLIST_BATCH).optional(),
    pairs: z
      .array(z.strictObject({ platform: Platform, platform_user_id: UserId }))
      .max(MAX_BLACKLIST_BATCH)
      .optional(),
  })
  .refine((b) => (b.ids?.length ?? 0) + (b.pairs?.length ?? 0) > 0, {
    message: 'give ids or pairs',
  })
  .refine((b) => (b.ids?.length ?? 0) + (b.pairs?.length ?? 0) <= MAX_BLACKLIST_BATCH, {
    message: `at most ${MAX_BLACKLIST_BATCH} in all`,
  })
  .meta({
    id: 'BatchDeleteBlacklistRequest',
    example: { pairs: [{ platform: 'qq', platform_user_id: '10001' }] },
  });

export const BatchDeleteBlacklistResult = z
  .object({
    object: z.literal('blacklist_batch_delete_result'),
    deleted: z.number().int(),
    not_found: z.number().int(),
    revision: z.number().int(),
    deleted_ids: z.array(z.string()),
  })
  .meta({ id: 'BlacklistBatchDeleteResult' });

export const UpdateBlacklistEntryRequest = z
  .strictObject({
    reason: Reason.nullable().optional(),
    expires_at: Timestamp.nullable().optional(),
  })
  .meta({
    id: 'UpdateBlacklistEntryRequest',
    example: { reason: 'repeated spam', expires_at: null },
  });

export const BlacklistListQuery = z.object({
  q: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .optional()
    .meta({ description: 'Substring of the user id or the reason' }),
  platform: Platform.optional(),
  status: z.enum(['active', 'expired']).optional(),
  operator: z.string().max(100).optional(),
});

export const BlacklistCheckQuery = z.object({
  platform: Platform.meta({ example: 'qq' }),
  user_id: UserId.meta({ example: '10001' }),
});
export const BlacklistCheck = z
  .object({ blocked: z.boolean(), entry: BlacklistEntry.nullable() })
  .meta({ id: 'BlacklistCheck' });

export const BlacklistAuditEntry = z
  .object({
    id: z.string(),
    action: z.enum(['add', 'update', 'remove']),
    entry_id: z.string(),
    platform: Platform,
    platform_user_id: z.string(),
    before: BlacklistEntry.nullable(),
    after: BlacklistEntry.nullable(),
    actor: z.string(),
    revision: z.number().int(),
    created_at: Timestamp,
  })
  .meta({ id: 'BlacklistAuditEntry' });

export const BlacklistStats = z
  .object({
    object: z.literal('blacklist_stats'),
    entries: z.object({ active: z.number().int(), expired: z.number().int() }),
    per_user: z.array(
      z.object({
        platform: Platform,
        platform_user_id: z.string(),
        count: z.number().int(),
        last_blocked_at: Timestamp,
        last_reason: z.string().nullable(),
      }),
    ),
    per_day: z.array(z.object({ date: z.string(), count: z.number().int() })),
  })
  .meta({ id: 'BlacklistStats' });
export const BlacklistStatsQuery = z.object({
  from: Timestamp.optional(),
  to: Timestamp.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** A compact entry as sidecars hold it: what the intercept needs and nothing more. */
export const SyncEntry = z.object({
  id: z.string(),
  platform: Platform,
  platform_user_id: z.string(),
  reason: z.string().nullable(),
  /** Epoch milliseconds, or null for permanent. */
  expires_at: z.number().nullable(),
});
export type SyncEntry = z.infer<typeof SyncEntry>;
