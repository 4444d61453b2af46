import { TOKEN_PREFIXES } from '@astrdesk/protocol';
import { newId, newToken, sha256Hex } from '../infra/crypto/index.js';
import type { Db } from '../infra/db/index.js';

/**
 * Creates a platform operator and returns its token. The token is stored hashed and printed
 * once by `astrdesk-server operator create`; there is no route for this, on purpose: the
 * first operator must come from someone with shell access to the server.
 */
export async function createOperator(db: Db, name: string, now = Date.now()) {
  const token = newToken(TOKEN_PREFIXES.operator);
  const id = newId('operator', now);
  await db
    .insertInto('operators')
    .values({ id, name, token_hash: sha256Hex(token), created_at: now, revoked_at: null })
    .execute();
  return { id, name, token };
}

export async function revokeOperator(db: Db, id: string, now = Date.now()): Promise<boolean> {
  const r = await db
    .updateTable('operators')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
