import { z } from 'zod';
import { Timestamp } from './common.js';
import { EventType } from './events.js';

export const WebhookEndpoint = z
  .object({
    id: z.string(),
    object: z.literal('webhook_endpoint'),
    url: z.string(),
    events: z.array(z.union([EventType, z.literal('*')])),
    enabled: z.boolean(),
    description: z.string().nullable(),
    secret_last4: z.string(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'WebhookEndpoint' });
export type WebhookEndpoint = z.infer<typeof WebhookEndpoint>;

const Url = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2048);

export const CreateWebhookEndpointRequest = z
  .strictObject({
    url: Url,
    events: z
      .array(z.union([EventType, z.literal('*')]))
      .min(1)
      .max(50),
    description: z.string().trim().max(500).optional(),
    enabled: z.boolean().default(true),
  })
  .meta({
    id: 'CreateWebhookEndpointRequest',
    example: {
      url: 'https://crm.example.com/hooks/astrdesk',
      events: ['message.created', 'message.blocked'],
    },
  });

export const UpdateWebhookEndpointRequest = z
  .strictObject({
    url: Url.optional(),
    events: z
      .array(z.union([EventType, z.literal('*')]))
      .min(1)
      .max(50)
      .optional(),
    description: z.string().trim().max(500).nullable().optional(),
    enabled: z.boolean().optional(),
  })
  .meta({ id: 'UpdateWebhookEndpointRequest', example: { enabled: false } });

/** The signing secret (`whsec_...`) is shown when the endpoint is created, and never again. */
export const WebhookEndpointWithSecret = WebhookEndpoint.extend({ secret: z.string() }).meta({
  id: 'WebhookEndpointWithSecret',
});

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export const WebhookDelivery = z
  .object({
    id: z.string(),
    object: z.literal('webhook_delivery'),
    endpoint_id: z.string(),
    event_id: z.string(),
    event_seq: z.number().int(),
    event_type: EventType,
    status: z.enum(WEBHOOK_DELIVERY_STATUSES),
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: Timestamp.nullable(),
    delivered_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: 'WebhookDelivery' });

/** Header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export const WEBHOOK_SIGNATURE_HEADER = 'AstrDesk-Signature';
