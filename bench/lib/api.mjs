// The public-API calls every bench makes to get a tenant to measure against, in one place.

/** One JSON call; a non-2xx answer throws with the status and body. */
export async function call(url, method, p, body, token) {
  const res = await fetch(url + p, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Signup → operator approval (skipped when auto-approved) → owner login, the way a real
 * tenant starts.
 *
 * @example const t = await setupTenant(srv.url, operator.token, { name: 'Bench Co' });
 */
export async function setupTenant(url, operatorToken, { name = 'Bench Co', email } = {}) {
  const contactEmail =
    email ?? `owner-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@bench.example`;
  const password = 'bench-password-123';
  const signup = await call(url, 'POST', '/v1/signup', {
    company_name: name,
    contact_name: `${name} Owner`,
    contact_email: contactEmail,
    owner_password: password,
  });
  const tenantId = signup.tenant.id;
  if (signup.tenant.status !== 'active') {
    await call(url, 'POST', `/v1/admin/tenants/${tenantId}/approve`, {}, operatorToken);
  }
  const { token: sessionToken } = await call(url, 'POST', '/v1/auth/login', {
    email: contactEmail,
    password,
  });
  return { tenantId, ownerId: signup.owner_id, sessionToken, email: contactEmail, password };
}

/** An API key of the tenant with `scopes`; returns its secret. */
export async function createApiKey(url, sessionToken, name, scopes) {
  const { secret } = await call(url, 'POST', '/v1/api-keys', { name, scopes }, sessionToken);
  return secret;
}
