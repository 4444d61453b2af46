import { describe, expect, it } from 'vitest';
import {
  AutoApprovalPolicy,
  CreateApiKeyRequest,
  CreateMemberRequest,
  describeErrorCode,
  ERROR_CODES,
  ROLE_SCOPES,
  SCOPES,
  SignupRequest,
  TENANT_ACTIONS,
  TENANT_STATUSES,
} from './index.js';

describe('error codes', () => {
  it('map to statuses that match their type', () => {
    const expected: Record<string, (s: number) => boolean> = {
      invalid_request_error: (s) =>
        s >= 400 && s < 500 && s !== 401 && s !== 403 && s !== 404 && s !== 429,
      authentication_error: (s) => s === 401,
      permission_error: (s) => s === 403,
      not_found_error: (s) => s === 404,
      conflict_error: (s) => s === 409,
      rate_limit_error: (s) => s === 429,
      api_error: (s) => s >= 500,
    };
    for (const [code, { status, type }] of Object.entries(ERROR_CODES)) {
      expect(expected[type]!(status), `${code}: ${status} ${type}`).toBe(true);
    }
    expect(describeErrorCode('no_such_code')).toEqual(ERROR_CODES.internal_error);
  });
});

describe('schemas', () => {
  it('documented examples are valid requests', () => {
    for (const s of [SignupRequest, CreateMemberRequest, CreateApiKeyRequest, AutoApprovalPolicy]) {
      const example = (s.meta() as { example?: unknown }).example;
      expect(example).toBeDefined();
      expect(s.safeParse(example).success).toBe(true);
    }
  });

  it('request bodies are strict and normalise emails', () => {
    const base = {
      company_name: 'A',
      contact_name: 'B',
      contact_email: ' Li@Acme.Example ',
      owner_password: '0123456789',
    };
    expect(SignupRequest.parse(base).contact_email).toBe('li@acme.example');
    const r = SignupRequest.safeParse({ ...base, status: 'active' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.code).toBe('unrecognized_keys');
  });

  it('tenant actions only name real statuses; every status is reachable', () => {
    const reached = new Set<string>(['pending']);
    for (const a of Object.values(TENANT_ACTIONS)) {
      for (const f of a.from) expect(TENANT_STATUSES).toContain(f);
      reached.add(a.to);
    }
    expect([...reached].sort()).toEqual([...TENANT_STATUSES].sort());
  });

  it('agents hold fewer scopes than admins, and every role scope exists', () => {
    expect(ROLE_SCOPES.agent.length).toBeLessThan(ROLE_SCOPES.admin.length);
    expect(ROLE_SCOPES.agent).not.toContain('members:write');
    for (const s of ROLE_SCOPES.agent) expect(SCOPES).toContain(s);
  });
});
