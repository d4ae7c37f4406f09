import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@aauth-kit/auth-server';
import { MAX_AUDIT_TEXT, auditJson, boundAuditEvent, completeAuditEvent, createAuditEmitter } from '../src/lib/audit.js';

// Issue 17: every event the server emits carries the audit-trail fields, derived from what the
// emitting site set; fields a site set win; a listener that throws never breaks the request.

const realm = { name: 'tenant-a', users: [{ id: 'u-1', username: 'alice', enabled: true, displayName: 'Alice', passwords: [] }] };
const base = { time: 1_700_000_000, endpoint: 'token' } as const;

describe('completeAuditEvent', () => {
  it('an issuance: realm, allow, the user name for the sub, the agent chain from act, scopes asked and granted', () => {
    const event: AuditEvent = {
      ...base,
      type: 'token.exchanged',
      agent: 'https://sca.example',
      sub: 'u-1',
      scope: 'a b',
      jti: 'j1',
      act: { agent: 'https://backend.example', sub: 'u-1', act: { agent: 'https://portal.example' } },
    };
    expect(completeAuditEvent(event, realm)).toEqual({
      ...event,
      realm: 'tenant-a',
      decision: 'allow',
      user: 'alice',
      chain: ['https://sca.example', 'https://backend.example', 'https://portal.example'],
      scopesRequested: ['a', 'b'],
      scopesGranted: ['a', 'b'],
    });
  });

  it('a refusal: deny, no scopes granted; an unknown sub stays the user', () => {
    const out = completeAuditEvent({ ...base, type: 'request.refused', agent: 'https://a.example', sub: 'pairwise-xyz', scope: 'a', code: 'invalid_grant' }, realm);
    expect(out).toMatchObject({ decision: 'deny', user: 'pairwise-xyz', chain: ['https://a.example'], scopesRequested: ['a'] });
    expect(out.scopesGranted).toBeUndefined();
  });

  it('consent.required is pending; consent and revocation events are no decision', () => {
    expect(completeAuditEvent({ ...base, type: 'consent.required' }, realm).decision).toBe('pending');
    for (const type of ['consent.granted', 'consent.denied', 'login.failed', 'token.revoked', 'revocation.pushed'] as const) {
      expect(completeAuditEvent({ ...base, type }, realm).decision).toBeUndefined();
    }
  });

  it('OAuth (RFC 8693): the actor first, the act.sub chain after it, the username of an interaction wins', () => {
    const out = completeAuditEvent(
      { ...base, endpoint: 'openid-connect', type: 'token.exchanged', client: 'sca-client', actor: 'sca-client', act: { sub: 'sca-client', act: { sub: 'maa-client' } }, username: 'bob', sub: 'u-1' },
      realm,
    );
    expect(out).toMatchObject({ chain: ['sca-client', 'maa-client'], user: 'bob' });
    expect(completeAuditEvent({ ...base, endpoint: 'openid-connect', type: 'request.refused', client: 'c' }, realm).chain).toEqual(['c']);
  });

  it('fields the site set win over derived ones', () => {
    const out = completeAuditEvent({ ...base, type: 'token.issued', scope: 'a b', scopesRequested: ['a', 'b', 'c'], scopesGranted: ['a', 'b'], realm: 'x', chain: ['p'] }, realm);
    expect(out).toMatchObject({ realm: 'x', chain: ['p'], scopesRequested: ['a', 'b', 'c'], scopesGranted: ['a', 'b'] });
  });
});

describe('createAuditEmitter', () => {
  it('completes each event and survives a throwing listener with a warning', () => {
    const seen: AuditEvent[] = [];
    const warnings: string[] = [];
    const emit = createAuditEmitter((e) => {
      seen.push(e);
      throw new Error('disk full');
    }, (m) => warnings.push(m), realm);
    expect(() => emit({ ...base, type: 'token.issued', agent: 'https://a.example' })).not.toThrow();
    expect(seen[0]).toMatchObject({ realm: 'tenant-a', decision: 'allow', chain: ['https://a.example'] });
    expect(warnings).toEqual(['onAudit threw: disk full']);
  });

  it('an async listener that rejects is a warning, not an unhandled rejection (which would end the process)', async () => {
    const warnings: string[] = [];
    const emit = createAuditEmitter(async () => {
      throw new Error('audit database down');
    }, (m) => warnings.push(m), realm);
    expect(() => emit({ ...base, type: 'request.refused', code: 'invalid_request' })).not.toThrow();
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual(['onAudit rejected: audit database down']);
  });

  it('a listener that throws something other than an Error (null, a string) is a warning too', () => {
    const warnings: string[] = [];
    for (const thrown of [null, 'quota']) {
      const emit = createAuditEmitter(() => {
        throw thrown;
      }, (m) => warnings.push(m), realm);
      expect(() => emit({ ...base, type: 'token.issued' })).not.toThrow();
    }
    expect(warnings).toEqual(['onAudit threw: null', 'onAudit threw: quota']);
  });
});

describe('auditJson', () => {
  it('JSON.stringify, with what a terminal acts on (C1, DEL, U+2028/9, bidi overrides) escaped: the same value when parsed', () => {
    const value = { audit: { username: 'a\u009b31mb\u202ec\u2028d\u007fe', scope: 'plain' } };
    const json = auditJson(value);
    expect(json).toBe('{"audit":{"username":"a\\u009b31mb\\u202ec\\u2028d\\u007fe","scope":"plain"}}');
    expect(JSON.parse(json)).toEqual(value);
    expect(auditJson({ x: 'é ü 日本' })).toBe(JSON.stringify({ x: 'é ü 日本' }));
  });
});

describe('boundAuditEvent: one audit line does not grow with what a request carried', () => {
  const base = { time: 1, endpoint: 'token' as const, type: 'request.refused' as const };

  it('leaves an event within bounds as it is (the same object)', () => {
    const event: AuditEvent = { ...base, agent: 'https://agent.example', scope: 'a b', chain: ['x', 'y'], act: { agent: 'https://b.example', act: { agent: 'https://c.example' } } };
    expect(boundAuditEvent(event)).toBe(event);
  });

  it('cuts long strings, long lists and deep nesting, saying how long they were; the rest is kept', () => {
    const long = 'x'.repeat(MAX_AUDIT_TEXT * 10);
    let act: Record<string, unknown> = { agent: 'https://deepest.example' };
    for (let i = 0; i < 40; i++) act = { agent: `https://a${i}.example`, act };
    const event = { ...base, agent: long, scopesRequested: Array.from({ length: 1000 }, (_, i) => `s${i}`), act, reason: 'short' } as unknown as AuditEvent;
    const bounded = boundAuditEvent(event);
    expect(bounded).not.toBe(event);
    expect(bounded.agent!.length).toBeLessThan(MAX_AUDIT_TEXT + 64);
    expect(bounded.agent).toMatch(/\.\.\. \(40960 characters, cut\)$/);
    expect(bounded.scopesRequested).toHaveLength(65);
    expect(bounded.scopesRequested!.at(-1)).toBe('... (1000 entries, cut)');
    expect(bounded.reason).toBe('short');
    expect(auditJson(bounded).length).toBeLessThan(12_000);
    // The event given is not changed.
    expect(event.agent).toBe(long);
  });

  it('createAuditEmitter hands the listener the bounded event', () => {
    const seen: AuditEvent[] = [];
    const emit = createAuditEmitter((e) => void seen.push(e), () => undefined);
    emit({ ...base, resource: 'r'.repeat(100_000) });
    expect(seen[0]!.resource!.length).toBeLessThan(MAX_AUDIT_TEXT + 64);
  });
});
