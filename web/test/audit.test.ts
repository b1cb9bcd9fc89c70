import { describe, expect, it } from 'vitest';
import { auditParams, summaryText, toRfc3339 } from '../src/ui/admin/Audit';

describe('the audit log page', () => {
  it('turns filters into query parameters, leaving empty ones out', () => {
    const p = auditParams({ actor: ' 7 ', action: 'sign_in', target_kind: '', target_id: '', since: '', until: '' });
    expect(p).toEqual({
      actor: '7',
      action: 'sign_in',
      target_kind: undefined,
      target_id: undefined,
      since: undefined,
      until: undefined,
    });
    expect(toRfc3339('not a time')).toBeUndefined();
    expect(toRfc3339('2026-12-02T10:00')).toMatch(/^2026-12-0[12]T\d\d:00:00\.000Z$/);
  });

  it('shows a summary as facts and before/after changes', () => {
    expect(summaryText({ login: 'alice', active: { before: 'true', after: 'false' }, email: { before: null, after: 'a@b' } })).toBe(
      'login: alice; active: true → false; email: ∅ → a@b',
    );
  });
});
