import { describe, expect, it } from 'vitest';
import { loadRealm } from '../src/index.js';
import { BRUTE_FORCE_DEFAULTS, createFailureThrottle, parseBruteForce } from '../src/lib/brute-force.js';

const settings = { ...BRUTE_FORCE_DEFAULTS, enabled: true, failureFactor: 3, waitIncrementSeconds: 60, maxFailureWaitSeconds: 100, quickLoginCheckMilliSeconds: 1000, minimumQuickLoginWaitSeconds: 30 };

describe('createFailureThrottle (issue 13, finding 2)', () => {
  it("waits as Keycloak's temporary lockout does: failureFactor, increments, maximum, quick series, reset", () => {
    let t = 1000;
    const throttle = createFailureThrottle({ settings, now: () => t });
    throttle.fail('u');
    t += 5;
    throttle.fail('u');
    expect(throttle.wait('u')).toBe(0);
    t += 5;
    throttle.fail('u');
    expect(throttle.wait('u')).toBe(60);
    t += 61;
    for (let i = 0; i < 3; i++) {
      t += 5;
      throttle.fail('u');
    }
    expect(throttle.wait('u')).toBe(100); // 2 x 60, capped at maxFailureWaitSeconds
    t += 0.5;
    throttle.fail('quick');
    t += 0.2;
    throttle.fail('quick');
    expect(throttle.wait('quick')).toBe(30);
    t += BRUTE_FORCE_DEFAULTS.maxDeltaTimeSeconds + 1;
    throttle.fail('u');
    expect(throttle.wait('u')).toBe(0);
    throttle.succeed('u');
    expect(throttle.wait('u')).toBe(0);
  });

  it('memory is bounded without a wholesale reset: a locked key stays locked while others come and go', () => {
    let t = 1000;
    const throttle = createFailureThrottle({ settings, now: () => t, maxEntries: 10, quickCheck: false });
    for (let i = 0; i < 3; i++) throttle.fail('victim');
    expect(throttle.wait('victim')).toBe(60);
    for (let i = 0; i < 1000; i++) {
      t += 0.01;
      throttle.fail(`noise-${i}`);
    }
    expect(throttle.size).toBeLessThanOrEqual(10);
    expect(throttle.wait('victim')).toBeGreaterThan(0);
  });

  it('reads the realm fields, with Keycloak defaults, and names a bad one', () => {
    expect(parseBruteForce({}, 'r')).toEqual(BRUTE_FORCE_DEFAULTS);
    expect(loadRealm({ realm: 'x', bruteForceProtected: true, failureFactor: 5 }).bruteForce).toMatchObject({ enabled: true, failureFactor: 5, waitIncrementSeconds: 60 });
    expect(() => loadRealm({ realm: 'x', failureFactor: 0 })).toThrow('options.realm.failureFactor must be an integer of at least 1 (got 0)');
    expect(() => loadRealm({ realm: 'x', bruteForceProtected: 'yes' })).toThrow('options.realm.bruteForceProtected must be a boolean');
  });
});
