import { z } from 'zod';
import { Timestamp } from './common.js';
import { Platform } from './platforms.js';

/** An end user on an IM platform, as seen by one tenant. */
export const Contact = z
  .object({
    id: z.string(),
    object: z.literal('contact'),
    platform: Platform,
    platform_user_id: z.string(),
    nickname: z.string().nullable(),
    avatar_url: z.string().nullable(),
    adapter: z.string().nullable().meta({
      description: 'AstrBot adapter name for platform `other` (e.g. `satori`), else null',
    }),
    first_seen_at: Timestamp,
    last_seen_at: Timestamp,
  })
  .meta({ id: 'Contact' });
export type Contact = z.infer<typeof Contact>;

export const ContactListQuery = z.object({
  platform: Platform.optional(),
  q: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .optional()
    .meta({ description: 'Substring of nickname or platform user id' }),
});
