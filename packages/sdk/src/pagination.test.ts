import { afterEach, describe, expect, it } from 'vitest';
import { AstrDeskError } from './error.js';
import { Page } from './pagination.js';
import { type ScriptedServer, scriptedServer, TestClient } from './test-utils/scripted-server.js';

const member = (n: number) => ({ id: `usr_${n}`, object: 'member', email: `m${n}@acme.example` });

/** Three pages: no cursor → 1,2; `c1` → 3,4; `c2` → 5. */
function threePages(req: { url: string }) {
  const cursor = new URL(req.url, 'http://x').searchParams.get('cursor');
  if (cursor === null)
    return {
      status: 200,
      body: { data: [member(1), member(2)], next_cursor: 'c1', has_more: true },
    };
  if (cursor === 'c1')
    return {
      status: 200,
      body: { data: [member(3), member(4)], next_cursor: 'c2', has_more: true },
    };
  if (cursor === 'c2')
    return { status: 200, body: { data: [member(5)], next_cursor: null, has_more: false } };
  return {
    status: 400,
    body: {
      error: {
        code: 'invalid_cursor',
        type: 'invalid_request_error',
        message: 'bad',
        request_id: 'r',
      },
    },
  };
}

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('pagination', () => {
  it('iterates every item across three pages, following next_cursor', async () => {
    server = await scriptedServer(threePages);
    const client = new TestClient({ baseURL: server.url });
    const ids: string[] = [];
    for await (const m of client.members.list({ limit: 2 })) ids.push(m.id);
    expect(ids).toEqual(['usr_1', 'usr_2', 'usr_3', 'usr_4', 'usr_5']);
    expect(server.requests.map((r) => r.url)).toEqual([
      '/v1/members?limit=2',
      '/v1/members?limit=2&cursor=c1',
      '/v1/members?limit=2&cursor=c2',
    ]);
  });

  it('awaits to the first page, which walks on with getNextPage()', async () => {
    server = await scriptedServer(threePages);
    const client = new TestClient({ baseURL: server.url });
    const first = await client.members.list();
    expect(first).toBeInstanceOf(Page);
    expect(first.data.map((m) => m.id)).toEqual(['usr_1', 'usr_2']);
    expect(first.has_more).toBe(true);
    expect(first.next_cursor).toBe('c1');
    expect(first.hasNextPage()).toBe(true);
    const second = await first.getNextPage();
    expect(second.data.map((m) => m.id)).toEqual(['usr_3', 'usr_4']);
    const third = await second.getNextPage();
    expect(third.hasNextPage()).toBe(false);
    await expect(third.getNextPage()).rejects.toBeInstanceOf(AstrDeskError);
    expect(JSON.parse(JSON.stringify(third))).toEqual({
      data: [member(5)],
      next_cursor: null,
      has_more: false,
    });
    expect(server.requests).toHaveLength(3);
  });

  it('iterates pages, and items from a page onwards', async () => {
    server = await scriptedServer(threePages);
    const client = new TestClient({ baseURL: server.url });
    const first = await client.apiKeys.list();
    const sizes: number[] = [];
    for await (const page of first.iterPages()) sizes.push(page.data.length);
    expect(sizes).toEqual([2, 2, 1]);
    const second = await first.getNextPage();
    const rest: string[] = [];
    for await (const item of second) rest.push(item.id);
    expect(rest).toEqual(['usr_3', 'usr_4', 'usr_5']);
    expect(server.requests[0]!.url).toBe('/v1/api-keys');
  });

  it('keeps filters on later pages of admin tenant lists', async () => {
    server = await scriptedServer(threePages);
    const client = new TestClient({ baseURL: server.url, apiKey: 'ado_x' });
    let n = 0;
    for await (const _ of client.admin.tenants.list({ status: 'pending' })) n++;
    expect(n).toBe(5);
    expect(server.requests.map((r) => r.url)).toEqual([
      '/v1/admin/tenants?status=pending',
      '/v1/admin/tenants?status=pending&cursor=c1',
      '/v1/admin/tenants?status=pending&cursor=c2',
    ]);
  });

  it('stops iterating when the server repeats a cursor', async () => {
    server = await scriptedServer(() => ({
      status: 200,
      body: { data: [member(1)], next_cursor: 'same', has_more: true },
    }));
    const client = new TestClient({ baseURL: server.url });
    const ids: string[] = [];
    await expect(async () => {
      for await (const m of client.members.list()) ids.push(m.id);
    }).rejects.toThrow(/twice/);
    expect(ids).toEqual(['usr_1', 'usr_1']);
  });

  it('surfaces an error on a later page', async () => {
    server = await scriptedServer((req) =>
      req.url.includes('cursor')
        ? {
            status: 404,
            body: {
              error: { code: 'not_found', type: 'not_found_error', message: 'x', request_id: 'r' },
            },
          }
        : { status: 200, body: { data: [member(1)], next_cursor: 'c1', has_more: true } },
    );
    const client = new TestClient({ baseURL: server.url });
    const ids: string[] = [];
    await expect(async () => {
      for await (const m of client.members.list()) ids.push(m.id);
    }).rejects.toMatchObject({ status: 404, code: 'not_found' });
    expect(ids).toEqual(['usr_1']);
  });
});
