import { z } from 'zod';

/** ISO-8601 UTC timestamp, as every time on the wire. */
export const Timestamp = z.iso.datetime({ offset: true }).meta({
  description: 'ISO-8601 timestamp (UTC on output)',
  example: '2026-01-01T10:00:00.000Z',
});

export const Limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(100)
  .default(20)
  .meta({ description: 'Page size, 1–100', example: 20 });

/** `?limit=&cursor=` of every list route. */
export const ListQuery = z.object({
  limit: Limit.optional(),
  cursor: z
    .string()
    .min(1)
    .max(512)
    .optional()
    .meta({ description: 'Opaque cursor from `next_cursor`' }),
});
export type ListQuery = z.infer<typeof ListQuery>;

/** `{ data, next_cursor, has_more }` — the shape of every list answer. */
export function Page<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item),
    next_cursor: z.string().nullable(),
    has_more: z.boolean(),
  });
}
export interface PageOf<T> {
  data: T[];
  next_cursor: string | null;
  has_more: boolean;
}

export const Email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email())
  .transform((e) => e.toLowerCase());

export const Password = z
  .string()
  .min(10, 'password must be at least 10 characters')
  .max(256)
  .meta({ description: 'At least 10 characters', example: 'correct-horse-battery' });

export const Deleted = z.object({ id: z.string(), deleted: z.literal(true) });

/** Body of operator actions such as approve/reject. */
export const ReasonBody = z.strictObject({
  reason: z.string().trim().max(1000).optional(),
});
