import { APIResource } from '../resource.js';
import type { EventEnvelope } from '../types.js';
import {
  signWebhook,
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookBody,
} from '../webhooks.js';

/**
 * Checks the signatures of webhook requests AstrDesk sends you. Needs no credential and makes
 * no request: `verify` and `sign` are also exported as `verifyWebhook` and `signWebhook`.
 */
export class WebhooksResource extends APIResource {
  /**
   * Verifies a webhook request and returns its event; throws `WebhookVerificationError`
   * otherwise. Pass the raw body (string or bytes, before JSON parsing), the
   * `AstrDesk-Signature` header and the endpoint's secret (`whsec_...`).
   *
   * @example
   * const event = await client.webhooks.verify(rawBody, req.headers['astrdesk-signature'], secret);
   * if (event.type === 'message.created') ...
   */
  verify(
    rawBody: WebhookBody,
    signatureHeader: string | readonly string[] | null | undefined,
    secret: string,
    options?: VerifyWebhookOptions,
  ): Promise<EventEnvelope> {
    return verifyWebhook(rawBody, signatureHeader, secret, options);
  }

  /** The `AstrDesk-Signature` header value for `rawBody` at `timestampSec` (default now); for tests. */
  sign(rawBody: WebhookBody, secret: string, timestampSec?: number): Promise<string> {
    return signWebhook(rawBody, secret, timestampSec);
  }
}
