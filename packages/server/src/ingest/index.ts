import { IngestRequest, IngestResult } from '@astrdesk/protocol';
import { defineRoute, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';
import { ingestBatch, parseBatch } from './service.js';

export { ingestBatch, parseBatch } from './service.js';

const ingestRoute = defineRoute('instance', {
  method: 'post',
  path: '/v1/sidecar/events',
  tags: ['Sidecar'],
  summary: 'Ingest a batch of events from a sidecar',
  description:
    'Up to 500 events `{id, type, occurred_at, data}`; types `message.inbound`, `message.blocked`, `message.outbound_sent`. Idempotent on each event `id`: a replayed batch changes nothing and answers the same. One invalid or unknown event rejects the whole batch (400, `param` names its index); nothing is written.',
  request: { body: jsonBody(IngestRequest) },
  responses: { 200: json(IngestResult, 'What each event produced') },
});

export const ingestRoutes = newRouter().openapi(ingestRoute, async (c) => {
  const { events } = c.req.valid('json');
  const parsed = parseBatch(events);
  const result = await ingestBatch(c.var.services, c.var.tenantId, c.var.principal.id, parsed);
  return c.json(result, 200);
});
