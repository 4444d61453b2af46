import { z } from 'zod';
import { Timestamp } from './common.js';
import { PLATFORMS, Platform } from './platforms.js';

export const Instance = z
  .object({
    id: z.string(),
    object: z.literal('instance'),
    name: z.string(),
    platforms: z.array(Platform),
    token_prefix: z.string(),
    created_at: Timestamp,
    updated_at: Timestamp,
    last_seen_at: Timestamp.nullable(),
    sync: z
      .object({
        online: z.boolean().meta({ description: 'The sidecar holds a control channel open now' }),
        connected_at: Timestamp.nullable(),
        sidecar_version: z.string().nullable(),
        applied_revision: z
          .number()
          .int()
          .meta({ description: 'Last blacklist revision the sidecar acknowledged' }),
        applied_at: Timestamp.nullable(),
        revision: z.number().int().meta({ description: "The tenant's current blacklist revision" }),
        lag: z.number().int().meta({ description: 'revision − applied_revision' }),
      })
      .meta({ id: 'InstanceSync' }),
  })
  .meta({ id: 'Instance' });
export type Instance = z.infer<typeof Instance>;

export const CreateInstanceRequest = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    platforms: z.array(Platform).max(PLATFORMS.length).default([]),
  })
  .meta({
    id: 'CreateInstanceRequest',
    example: { name: 'prod-bot-1', platforms: ['qq', 'wecom'] },
  });
export type CreateInstanceRequest = z.input<typeof CreateInstanceRequest>;

export const UpdateInstanceRequest = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional(),
    platforms: z.array(Platform).max(PLATFORMS.length).optional(),
  })
  .meta({ id: 'UpdateInstanceRequest', example: { name: 'prod-bot-2' } });

/** The instance token (`adi_...`) is in this answer only; sidecars use it and nothing else can. */
export const InstanceWithToken = Instance.extend({ token: z.string() }).meta({
  id: 'InstanceWithToken',
});
