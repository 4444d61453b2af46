import { Contact, ContactListQuery, ListQuery, Page, type Platform } from '@astrdesk/protocol';
import { containsText, iso } from '../infra/db/index.js';
import type { ContactsTable } from '../infra/db/schema.js';
import { notFound } from '../infra/http/errors.js';
import { paginateById } from '../infra/http/pagination.js';
import { defineRoute, IdParam, json } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';

export function toContact(r: ContactsTable): Contact {
  return {
    id: r.id,
    object: 'contact',
    platform: r.platform as Platform,
    platform_user_id: r.platform_user_id,
    nickname: r.nickname,
    avatar_url: r.avatar_url,
    adapter: r.adapter,
    first_seen_at: iso(r.first_seen_at),
    last_seen_at: iso(r.last_seen_at),
  };
}

const listRoute = defineRoute(
  { scope: 'contacts:read' },
  {
    method: 'get',
    path: '/v1/contacts',
    tags: ['Contacts'],
    summary: 'End users who wrote in, newest first',
    request: { query: ListQuery.extend(ContactListQuery.shape) },
    responses: { 200: json(Page(Contact), 'A page of contacts') },
  },
);
const getRoute = defineRoute(
  { scope: 'contacts:read' },
  {
    method: 'get',
    path: '/v1/contacts/{id}',
    tags: ['Contacts'],
    summary: 'A contact',
    request: { params: IdParam },
    responses: { 200: json(Contact, 'The contact') },
  },
);

export const contactRoutes = newRouter()
  .openapi(listRoute, async (c) => {
    const { db } = c.var.services;
    const q = c.req.valid('query');
    const page = await paginateById(
      db
        .selectFrom('contacts')
        .selectAll()
        .where('tenant_id', '=', c.var.tenantId)
        .$if(q.platform !== undefined, (qb) => qb.where('platform', '=', q.platform!))
        .$if(q.q !== undefined, (qb) =>
          qb.where((eb) =>
            eb.or([containsText('nickname', q.q!), containsText('platform_user_id', q.q!)]),
          ),
        ),
      q,
      toContact,
    );
    return c.json(page, 200);
  })
  .openapi(getRoute, async (c) => {
    const { id } = c.req.valid('param');
    const row = await c.var.services.db
      .selectFrom('contacts')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('contact');
    return c.json(toContact(row), 200);
  });
