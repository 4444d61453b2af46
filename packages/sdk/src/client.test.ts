import { afterEach, describe, expect, it, vi } from 'vitest';
import { AstrDesk } from './client.js';
import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  APIUserAbortError,
  AstrDeskError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
} from './error.js';
import {
  closedPort,
  envelope,
  type ScriptedServer,
  scriptedServer,
  TestClient,
} from './test-utils/scripted-server.js';
import { VERSION } from './version.js';

const MEMBER = {
  id: 'usr_1',
  object: 'member',
  tenant_id: 'tnt_1',
  email: 'a@acme.example',
  name: 'A',
  role: 'agent',
  disabled: false,
  invite_pending: false,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  last_login_at: null,
};

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.unstubAllEnvs();
});

async function serve(...args: Parameters<typeof scriptedServer>) {
  server = await scriptedServer(...args);
  return server;
}

/** Runs a promise that must reject and returns what it rejected with. */
async function rejection(p: PromiseLike<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('requests', () => {
  it('sends the credential, SDK headers and JSON; GET has no Idempotency-Key and no body', async () => {
    const s = await serve([{ status: 200, body: MEMBER }]);
    const client = new TestClient({ baseURL: `${s.url}/`, apiKey: 'adk_secret' });
    const member = await client.members.retrieve('usr_1');
    expect(member).toEqual(MEMBER);
    const req = s.requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.url).toBe('/v1/members/usr_1');
    expect(req.headers.authorization).toBe('Bearer adk_secret');
    expect(req.headers['x-astrdesk-sdk']).toBe(`js/${VERSION}`);
    expect(req.headers['user-agent']).toMatch(/^astrdesk-sdk-js\//);
    expect(req.headers.accept).toBe('application/json');
    expect(req.headers['idempotency-key']).toBeUndefined();
    expect(req.headers['content-type']).toBeUndefined();
    expect(req.body).toBe('');
  });

  it('sends a JSON body with Content-Type and an Idempotency-Key on writes', async () => {
    const s = await serve([
      { status: 201, body: { ...MEMBER, invite_token: 'adv_x', invite_expires_at: null } },
    ]);
    const client = new TestClient({ baseURL: s.url });
    const created = await client.members.create({ email: 'a@acme.example', name: 'A' });
    expect(created.invite_token).toBe('adv_x');
    const req = s.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/v1/members');
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toEqual({ email: 'a@acme.example', name: 'A' });
    expect(req.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives every write method its own key, with the configured prefix', async () => {
    const s = await serve(() => ({ status: 200, body: {} }));
    const client = new TestClient({ baseURL: s.url, idempotencyKeyPrefix: 'crm-' });
    await client.tenant.update({ industry: 'retail' });
    await client.apiKeys.revoke('key_1');
    await client.admin.autoApproval.update({ mode: 'all' });
    const keys = s.requests.map((r) => r.headers['idempotency-key']);
    expect(s.requests.map((r) => r.method)).toEqual(['PATCH', 'DELETE', 'PUT']);
    for (const key of keys) expect(key).toMatch(/^crm-[0-9a-f-]{36}$/);
    expect(new Set(keys).size).toBe(3);
  });

  it('uses the Idempotency-Key the caller passes', async () => {
    const s = await serve([{ status: 201, body: MEMBER }]);
    const client = new TestClient({ baseURL: s.url });
    await client.members.create(
      { email: 'a@acme.example', name: 'A' },
      { idempotencyKey: 'my-key-1' },
    );
    expect(s.requests[0]!.headers['idempotency-key']).toBe('my-key-1');
  });

  it('percent-encodes path parameters and serialises queries', async () => {
    const s = await serve(() => ({ status: 200, body: {} }));
    const client = new TestClient({ baseURL: s.url });
    await client.members.retrieve('a/b?c#d');
    await client.apiKeys.usage('key 1', {
      from: new Date('2026-01-01T00:00:00Z'),
      granularity: 'day',
    });
    expect(s.requests.map((r) => r.url)).toEqual([
      '/v1/members/a%2Fb%3Fc%23d',
      '/v1/api-keys/key%201/usage?from=2026-01-01T00%3A00%3A00.000Z&granularity=day',
    ]);
    expect(() => client.members.retrieve('')).toThrow(AstrDeskError);
    expect(() => client.admin.tenants.retrieve('..')).toThrow(AstrDeskError);
    expect(s.requests).toHaveLength(2);
  });

  it('merges default and per-request headers; null removes one', async () => {
    const s = await serve(() => ({ status: 200, body: {} }));
    const client = new TestClient({
      baseURL: s.url,
      defaultHeaders: { 'X-Team': 'crm', 'X-AstrDesk-SDK': null },
    });
    await client.me.retrieve({ headers: { 'x-trace': 't1', 'X-Team': 'support' } });
    const h = s.requests[0]!.headers;
    expect(h['x-team']).toBe('support');
    expect(h['x-trace']).toBe('t1');
    expect(h['x-astrdesk-sdk']).toBeUndefined();
  });

  it('sends no Authorization without a credential (public routes)', async () => {
    vi.stubEnv('ASTRDESK_API_KEY', '');
    const s = await serve([
      { status: 201, body: { tenant: {}, owner_id: 'usr_1', next_step: '' } },
    ]);
    const client = new AstrDesk({ baseURL: s.url });
    expect(client.apiKey).toBeNull();
    await client.tenant.signup({
      company_name: 'Acme',
      contact_name: 'Li Lei',
      contact_email: 'lilei@acme.example',
      owner_password: 'correct-horse-battery',
    });
    expect(s.requests[0]!.headers.authorization).toBeUndefined();
    expect(s.requests[0]!.url).toBe('/v1/signup');
  });

  it('reads ASTRDESK_API_KEY and ASTRDESK_BASE_URL from the environment', async () => {
    const s = await serve([{ status: 200, body: {} }]);
    vi.stubEnv('ASTRDESK_API_KEY', 'adk_from_env');
    vi.stubEnv('ASTRDESK_BASE_URL', s.url);
    const client = new AstrDesk();
    expect(client.baseURL).toBe(s.url);
    await client.me.retrieve();
    expect(s.requests[0]!.headers.authorization).toBe('Bearer adk_from_env');
  });

  it('refuses to start without a baseURL and validates options', () => {
    vi.stubEnv('ASTRDESK_BASE_URL', '');
    expect(() => new AstrDesk({ apiKey: 'x' })).toThrow(/baseURL/);
    expect(() => new AstrDesk({ baseURL: 'http://x', maxRetries: -1 })).toThrow(/maxRetries/);
    expect(() => new AstrDesk({ baseURL: 'http://x', timeout: 0 })).toThrow(/timeout/);
  });

  it('calls an injected fetch', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetch = async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ object: 'principal' }), {
        status: 200,
        headers: { 'content-type': 'application/json', 'x-request-id': 'req_42' },
      });
    };
    const client = new AstrDesk({ baseURL: 'https://api.example.test', apiKey: 'k', fetch });
    const { data, requestId, response } = await client.me.retrieve().withResponse();
    expect(data).toEqual({ object: 'principal' });
    expect(requestId).toBe('req_42');
    expect(response.status).toBe(200);
    expect(calls[0]!.url).toBe('https://api.example.test/v1/me');
    expect(calls[0]!.init.method).toBe('GET');
  });

  it('resolves a 204 to undefined', async () => {
    const s = await serve([{ status: 204 }]);
    const client = new TestClient({ baseURL: s.url, apiKey: 'ads_session' });
    await expect(client.auth.logout()).resolves.toBeUndefined();
    expect(s.requests[0]!.url).toBe('/v1/auth/logout');
    expect(s.requests[0]!.method).toBe('POST');
  });

  it('withOptions makes a client with another credential and keeps the rest', async () => {
    const s = await serve(() => ({ status: 200, body: {} }));
    const client = new TestClient({
      baseURL: s.url,
      apiKey: 'adk_one',
      defaultHeaders: { 'x-team': 'crm' },
    });
    const other = client.withOptions({ apiKey: 'ads_two' });
    expect(other).toBeInstanceOf(TestClient);
    await other.me.retrieve();
    expect(s.requests[0]!.headers.authorization).toBe('Bearer ads_two');
    expect(s.requests[0]!.headers['x-team']).toBe('crm');
    expect(client.apiKey).toBe('adk_one');
  });
});

describe('retries', () => {
  it('retries a 503 once and reuses the Idempotency-Key', async () => {
    const s = await serve([
      { status: 503, body: envelope('service_unavailable', 'api_error', 'busy') },
      { status: 201, body: MEMBER },
    ]);
    const client = new TestClient({ baseURL: s.url });
    const member = await client.members.create({ email: 'a@acme.example', name: 'A' });
    expect(member.id).toBe('usr_1');
    expect(s.requests).toHaveLength(2);
    const [first, second] = s.requests;
    expect(first!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(second!.headers['idempotency-key']).toBe(first!.headers['idempotency-key']);
    expect(second!.body).toBe(first!.body);
    expect(client.sleeps).toHaveLength(1);
    expect(client.sleeps[0]).toBeGreaterThanOrEqual(0);
    expect(client.sleeps[0]).toBeLessThan(500);
  });

  it('gives up after maxRetries and throws the last error', async () => {
    const s = await serve([
      { status: 502, raw: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' } },
    ]);
    const client = new TestClient({ baseURL: s.url, maxRetries: 3 });
    const err = await rejection(client.me.retrieve());
    expect(err).toBeInstanceOf(InternalServerError);
    expect((err as APIError).status).toBe(502);
    expect((err as APIError).error).toBe('<html>Bad Gateway</html>');
    expect((err as APIError).requestId).toBe('req_test_3');
    expect(s.requests).toHaveLength(4);
    expect(client.sleeps).toHaveLength(3);
  });

  it('honours Retry-After in seconds on a 429', async () => {
    const s = await serve([
      {
        status: 429,
        body: envelope('rate_limited', 'rate_limit_error', 'slow down'),
        headers: { 'retry-after': '3' },
      },
      { status: 200, body: MEMBER },
    ]);
    const client = new TestClient({ baseURL: s.url });
    await client.members.retrieve('usr_1');
    expect(s.requests).toHaveLength(2);
    expect(client.sleeps).toEqual([3000]);
  });

  it('honours retry-after-ms over Retry-After', async () => {
    const s = await serve([
      { status: 429, body: {}, headers: { 'retry-after-ms': '250', 'retry-after': '9' } },
      { status: 200, body: MEMBER },
    ]);
    const client = new TestClient({ baseURL: s.url });
    await client.members.retrieve('usr_1');
    expect(client.sleeps).toEqual([250]);
  });

  it('honours Retry-After as an HTTP date', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    const s = await serve([
      { status: 503, body: {}, headers: { 'retry-after': at } },
      { status: 200, body: MEMBER },
    ]);
    const client = new TestClient({ baseURL: s.url });
    await client.members.retrieve('usr_1');
    expect(client.sleeps).toHaveLength(1);
    expect(client.sleeps[0]).toBeGreaterThan(20_000);
    expect(client.sleeps[0]).toBeLessThanOrEqual(30_000);
  });

  it('does not sleep through a Retry-After longer than a minute: the caller gets RateLimitError', async () => {
    const s = await serve([
      {
        status: 429,
        body: envelope('rate_limited', 'rate_limit_error', 'slow down'),
        headers: { 'retry-after': '120' },
      },
    ]);
    const client = new TestClient({ baseURL: s.url });
    const err = await rejection(client.members.retrieve('usr_1'));
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).retryAfter).toBe(120);
    expect(s.requests).toHaveLength(1);
    expect(client.sleeps).toEqual([]);
  });

  it('retries 408', async () => {
    const s = await serve([{ status: 408 }, { status: 200, body: MEMBER }]);
    const client = new TestClient({ baseURL: s.url });
    await client.members.retrieve('usr_1');
    expect(s.requests).toHaveLength(2);
  });

  it('retries a 409 idempotency_key_in_use with the same key, but no other 409', async () => {
    const s = await serve([
      {
        status: 409,
        body: envelope('idempotency_key_in_use', 'conflict_error', 'in progress', {
          param: 'Idempotency-Key',
        }),
      },
      { status: 201, body: MEMBER },
    ]);
    const client = new TestClient({ baseURL: s.url });
    await client.members.create({ email: 'a@acme.example', name: 'A' });
    expect(s.requests).toHaveLength(2);
    expect(s.requests[1]!.headers['idempotency-key']).toBe(
      s.requests[0]!.headers['idempotency-key'],
    );

    const s2 = await scriptedServer([
      { status: 409, body: envelope('already_exists', 'conflict_error', 'taken') },
    ]);
    try {
      const err = await rejection(
        new TestClient({ baseURL: s2.url }).members.create({ email: 'a@b.example', name: 'B' }),
      );
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).code).toBe('already_exists');
      expect(s2.requests).toHaveLength(1);
    } finally {
      await s2.close();
    }
  });

  it('does not retry a 400 and exposes the envelope', async () => {
    const s = await serve([
      {
        status: 400,
        body: envelope(
          'validation_failed',
          'invalid_request_error',
          'Invalid body field "email": Invalid email',
          {
            param: 'email',
            request_id: 'req_abc',
            details: {
              issues: [{ path: 'email', code: 'invalid_format', message: 'Invalid email' }],
            },
          },
        ),
      },
    ]);
    const client = new TestClient({ baseURL: s.url });
    const err = await rejection(client.members.create({ email: 'nope', name: 'A' }));
    expect(err).toBeInstanceOf(BadRequestError);
    const e = err as BadRequestError;
    expect(e.status).toBe(400);
    expect(e.code).toBe('validation_failed');
    expect(e.type).toBe('invalid_request_error');
    expect(e.param).toBe('email');
    expect(e.requestId).toBe('req_abc');
    expect(e.details).toEqual({
      issues: [{ path: 'email', code: 'invalid_format', message: 'Invalid email' }],
    });
    expect(e.message).toBe('400 validation_failed: Invalid body field "email": Invalid email');
    expect(e.headers.get('x-request-id')).toBe('req_test_0');
    expect(s.requests).toHaveLength(1);
    expect(client.sleeps).toEqual([]);
  });

  it.each([
    [401, 'invalid_token', 'authentication_error', AuthenticationError, 1],
    [403, 'insufficient_scope', 'permission_error', PermissionDeniedError, 1],
    [404, 'not_found', 'not_found_error', NotFoundError, 1],
    [409, 'invalid_state_transition', 'conflict_error', ConflictError, 1],
    [422, 'idempotency_key_mismatch', 'invalid_request_error', UnprocessableEntityError, 1],
    [500, 'internal_error', 'api_error', InternalServerError, 3],
  ] as const)('maps %i to its error class', async (status, code, type, ErrorClass, attempts) => {
    const s = await serve([{ status, body: envelope(code, type, 'nope') }]);
    const client = new TestClient({ baseURL: s.url });
    const err = await rejection(client.tenant.retrieve());
    expect(err).toBeInstanceOf(ErrorClass);
    expect(err).toBeInstanceOf(APIError);
    expect(err).toBeInstanceOf(AstrDeskError);
    expect((err as APIError).status).toBe(status);
    expect((err as APIError).code).toBe(code);
    expect((err as APIError).requestId).toBe('req_from_body');
    expect((err as Error).name).toBe(ErrorClass.name);
    expect(s.requests).toHaveLength(attempts);
  });

  it('throws APIConnectionError after retrying a refused connection', async () => {
    const port = await closedPort();
    const client = new TestClient({ baseURL: `http://127.0.0.1:${port}` });
    const err = await rejection(client.members.create({ email: 'a@acme.example', name: 'A' }));
    expect(err).toBeInstanceOf(APIConnectionError);
    expect(err).not.toBeInstanceOf(APITimeoutError);
    expect((err as APIConnectionError).cause).toBeInstanceOf(Error);
    expect(client.sleeps).toHaveLength(2);
  });

  it('throws APITimeoutError when no answer comes in time, after retrying', async () => {
    const s = await serve([{ status: 200, hang: true }]);
    const client = new TestClient({ baseURL: s.url, timeout: 50, maxRetries: 1 });
    const err = await rejection(client.me.retrieve());
    expect(err).toBeInstanceOf(APITimeoutError);
    expect(err).toBeInstanceOf(APIConnectionError);
    expect(s.requests).toHaveLength(2);
  });

  it('per-request maxRetries and timeout override the client', async () => {
    const s = await serve([{ status: 503, body: {} }]);
    const client = new TestClient({ baseURL: s.url, maxRetries: 5 });
    await rejection(client.me.retrieve({ maxRetries: 0 }));
    expect(s.requests).toHaveLength(1);

    const s2 = await scriptedServer([{ status: 200, hang: true }]);
    try {
      const err = await rejection(
        new TestClient({ baseURL: s2.url }).me.retrieve({ timeout: 30, maxRetries: 0 }),
      );
      expect(err).toBeInstanceOf(APITimeoutError);
    } finally {
      await s2.close();
    }
  });

  it('stops at once, without retrying, when the caller aborts', async () => {
    const s = await serve([{ status: 200, hang: true }]);
    const client = new TestClient({ baseURL: s.url });
    const controller = new AbortController();
    const pending = rejection(
      client.members.create({ email: 'a@acme.example', name: 'A' }, { signal: controller.signal }),
    );
    await vi.waitFor(() => expect(s.requests).toHaveLength(1));
    controller.abort(new Error('user navigated away'));
    const err = await pending;
    expect(err).toBeInstanceOf(APIUserAbortError);
    expect((err as APIUserAbortError).cause).toEqual(new Error('user navigated away'));
    expect(client.sleeps).toEqual([]);
    expect(s.requests).toHaveLength(1);
  });

  it('sends nothing when the signal is already aborted', async () => {
    const s = await serve([{ status: 200, body: {} }]);
    const client = new TestClient({ baseURL: s.url });
    const err = await rejection(client.me.retrieve({ signal: AbortSignal.abort() }));
    expect(err).toBeInstanceOf(APIUserAbortError);
    expect(s.requests).toHaveLength(0);
  });

  it('does not retry when the caller aborts during the wait between attempts', async () => {
    const s = await serve([{ status: 503, body: {} }]);
    const controller = new AbortController();
    class AbortingClient extends TestClient {
      protected override sleep(ms: number, signal?: AbortSignal): Promise<void> {
        controller.abort();
        return super.sleep(ms, signal);
      }
    }
    const client = new AbortingClient({ baseURL: s.url });
    const err = await rejection(client.me.retrieve({ signal: controller.signal }));
    expect(err).toBeInstanceOf(APIUserAbortError);
    expect(s.requests).toHaveLength(1);
  });
});
