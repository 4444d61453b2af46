import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../../test-utils/index.js';
import { compiled } from './compiled.js';
import type { Db } from './index.js';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe('compiled queries', () => {
  it('compile once, then answer for each new value, keeping the builder’s own parameters', async () => {
    const a = await t.tenant('CompiledA');
    const b = await t.tenant('CompiledB');
    const byTenant = compiled((db: Db) =>
      db.selectFrom('members').select(['id', 'tenant_id']).where('tenant_id', '=', '').limit(1),
    );
    const [ra] = await byTenant.run(t.services.db, [a.tenantId]);
    const [rb] = await byTenant.run(t.services.db, [b.tenantId]);
    expect(ra).toEqual({ id: a.ownerId, tenant_id: a.tenantId });
    expect(rb).toEqual({ id: b.ownerId, tenant_id: b.tenantId });
    expect(await byTenant.run(t.services.db, ['no-such-tenant'])).toEqual([]);
  });
});
