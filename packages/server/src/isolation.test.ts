/**
 * Tenant isolation, proven over every route the app has: tenant A's owner (who holds every
 * scope) calls each /v1 route with tenant B's ids and must get 404, never B's data; and no
 * list route of A shows any of B's ids. Routes are enumerated from the app itself, so a route
 * added later is covered without touching this file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from './test-utils/index.js';

let t: TestServer;
let a: Awaited<ReturnType<TestServer['tenant']>>;
let bIds: string[] = [];
let bSecrets: string[] = [];
const password = 'correct-horse-battery';

interface DocOperation {
  requestBody?: {
    content?: { 'application/json'?: { schema?: { $ref?: string; example?: unknown } } };
  };
  'x-astrdesk-auth'?: string;
}
let doc: {
  paths: Record<string, Record<string, DocOperation>>;
  components: { schemas: Record<string, { example?: unknown }> };
};

beforeAll(async () => {
  t = await createTestServer();
  a = await t.tenant('TenantA');
  const b = await t.tenant('TenantB');
  const bMember = await t.call('POST', '/v1/members', {
    token: b.token,
    body: { email: 'agent@tenantb.example', name: 'B agent', role: 'agent', password },
  });
  const bKey = await t.call('POST', '/v1/api-keys', {
    token: b.token,
    body: { name: 'B key', scopes: ['tenant:read'] },
  });
  await t.call('GET', '/v1/tenant', { token: bKey.body.secret });
  // A has data of its own too, so "empty list" is not how A's lists pass.
  await t.call('POST', '/v1/members', {
    token: a.token,
    body: { email: 'agent@tenanta.example', name: 'A agent', role: 'agent', password },
  });
  await t.call('POST', '/v1/api-keys', {
    token: a.token,
    body: { name: 'A key', scopes: ['tenant:read'] },
  });
  // B has an AstrBot instance whose sidecar reported a user message: contact, conversation, message.
  const bInst = await t.call('POST', '/v1/instances', {
    token: b.token,
    body: { name: 'B bot', platforms: ['qq'] },
  });
  const event = (user: string, text: string) => ({
    id: `iso-${user}`,
    type: 'message.inbound',
    occurred_at: new Date().toISOString(),
    data: {
      platform: 'qq',
      platform_user_id: user,
      nickname: user,
      platform_message_id: `pm-${user}`,
      session_id: `s-${user}`,
      kind: 'text',
      text,
      sent_at: new Date().toISOString(),
    },
  });
  const ingested = await t.call('POST', '/v1/sidecar/events', {
    token: bInst.body.token,
    body: { events: [event('b-user-secret', 'tenant B private words')] },
  });
  expect(ingested.status).toBe(200);
  const bContact = (await t.call('GET', '/v1/contacts', { token: b.token })).body.data[0];
  const bConv = (await t.call('GET', '/v1/conversations', { token: b.token })).body.data[0];
  const bHook = await t.call('POST', '/v1/webhook-endpoints', {
    token: b.token,
    body: { url: 'https://b.example/hook', events: ['*'], enabled: false },
  });
  const aInst = await t.call('POST', '/v1/instances', {
    token: a.token,
    body: { name: 'A bot', platforms: ['qq'] },
  });
  await t.call('POST', '/v1/sidecar/events', {
    token: aInst.body.token,
    body: { events: [event('a-user', 'tenant A words')] },
  });
  await t.call('POST', '/v1/webhook-endpoints', {
    token: a.token,
    body: { url: 'https://a.example/hook', events: ['*'], enabled: false },
  });
  // B blocks the user the docs use as their example, so A's check of that user must not see it.
  const bBlock = await t.call('POST', '/v1/blacklist', {
    token: b.token,
    body: { platform: 'qq', platform_user_id: '10001', reason: 'tenant B reason' },
  });
  expect(bBlock.status).toBe(201);
  bIds = [
    b.tenantId,
    b.ownerId,
    bMember.body.id,
    bKey.body.id,
    bInst.body.id,
    bContact.id,
    bConv.id,
    ingested.body.results[0].message_id,
  ];
  bIds.push(bBlock.body.id);
  if (bHook.status === 201) bIds.push(bHook.body.id);
  bSecrets = [
    b.email,
    'agent@tenantb.example',
    bKey.body.secret,
    bKey.body.prefix,
    bInst.body.token,
    'b-user-secret',
    'tenant B private words',
    'tenant B reason',
  ];
  for (const id of bIds) expect(id).toMatch(/^[a-z]+_/);
  doc = (await t.call('GET', '/openapi.json')).body;
});
afterAll(async () => {
  await t?.close();
});

/** Every tenant-facing /v1 route of the app, as [method, openapi path]. */
function tenantRoutes(): Array<[string, string]> {
  const seen = new Set<string>();
  const out: Array<[string, string]> = [];
  for (const r of t.app.routes) {
    if (r.method === 'ALL' || !r.path.startsWith('/v1/') || r.path.startsWith('/v1/admin/'))
      continue;
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const k = `${r.method} ${path}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push([r.method, path]);
  }
  return out;
}

/** `?name=example&...` for the query parameters a route requires, from the OpenAPI examples. */
function requiredQuery(method: string, path: string): string {
  const params =
    (
      doc.paths[path]?.[method] as
        | {
            parameters?: Array<{
              name: string;
              in: string;
              required?: boolean;
              schema?: { example?: unknown };
              example?: unknown;
            }>;
          }
        | undefined
    )?.parameters ?? [];
  const q = new URLSearchParams();
  for (const p of params) {
    if (p.in !== 'query' || !p.required) continue;
    const ex = p.example ?? p.schema?.example;
    if (ex === undefined)
      throw new Error(`${path}: required query parameter ${p.name} has no example`);
    q.set(p.name, String(ex));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

function exampleBody(method: string, path: string): unknown {
  const op = doc.paths[path]?.[method.toLowerCase()];
  const schema = op?.requestBody?.content?.['application/json']?.schema;
  if (!schema) return undefined;
  if (schema.example !== undefined) return schema.example;
  const ref = schema.$ref?.split('/').pop();
  return (ref && doc.components.schemas[ref]?.example) ?? {};
}

describe('tenant isolation', () => {
  it('finds the routes to check (enumerated from the app)', () => {
    const withParams = tenantRoutes().filter(([, p]) => p.includes('{'));
    expect(withParams.length).toBeGreaterThanOrEqual(5);
    // Every enumerated route is documented, so it has an example body where it takes one.
    for (const [m, p] of tenantRoutes())
      expect(doc.paths[p]?.[m.toLowerCase()], `${m} ${p} missing from OpenAPI`).toBeDefined();
  });

  it("every route with an id answers 404 for another tenant's ids", async () => {
    const failures: string[] = [];
    for (const [method, path] of tenantRoutes().filter(([, p]) => p.includes('{'))) {
      for (const id of bIds) {
        const url = path.replace(/\{[^}]+\}/g, encodeURIComponent(id));
        const body = exampleBody(method, path);
        const r = await t.call(method, url, {
          token: a.token,
          ...(body !== undefined ? { body } : {}),
        });
        if (r.status !== 404 || r.body?.error?.code !== 'not_found') {
          failures.push(`${method} ${url} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        }
        const text = JSON.stringify(r.body);
        for (const s of bSecrets)
          if (text.includes(s)) failures.push(`${method} ${url} leaked ${s}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("no list or read route without an id shows another tenant's data", async () => {
    const failures: string[] = [];
    const gets = tenantRoutes().filter(([m, p]) => m === 'GET' && !p.includes('{'));
    expect(gets.length).toBeGreaterThanOrEqual(3);
    for (const [, path] of gets) {
      const r = await t.call('GET', `${path}${requiredQuery('get', path)}`, { token: a.token });
      if (r.status !== 200) failures.push(`GET ${path} → ${r.status}`);
      const text = JSON.stringify(r.body);
      for (const s of [...bIds, ...bSecrets])
        if (text.includes(s)) failures.push(`GET ${path} leaked ${s}`);
    }
    expect(failures).toEqual([]);
  });
});
