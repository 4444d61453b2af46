/** Prefixes of every id the API issues. Ids are `prefix + 26 Crockford base32 chars`, time-ordered. */
export const ID_PREFIXES = {
  tenant: 'tnt',
  member: 'usr',
  session: 'ses',
  apiKey: 'key',
  operator: 'opr',
  request: 'req',
  event: 'evt',
  conversation: 'conv',
  message: 'msg',
  contact: 'ct',
  instance: 'inst',
  blacklist: 'bl',
  asr: 'asr',
  invite: 'inv',
  delivery: 'dlv',
  webhookEndpoint: 'we',
  webhookDelivery: 'whd',
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

/** Secret token prefixes: a token says what it is, so auth can route it without a lookup. */
export const TOKEN_PREFIXES = {
  apiKey: 'adk_',
  session: 'ads_',
  operator: 'ado_',
  instance: 'adi_',
  invite: 'adv_',
} as const;
