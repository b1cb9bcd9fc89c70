import { describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS } from '../src/gen/wire';
import { en } from '../src/i18n/en';
import { zhCN } from '../src/i18n/zh-CN';
import { actionLabel, AUDIT_ACTIONS as PAGE_ACTIONS } from '../src/ui/admin/Audit';
import { setLang } from '../src/i18n';

describe('audit action labels', () => {
  it('every action the server records has an English and a Chinese label', () => {
    expect(AUDIT_ACTIONS.length).toBeGreaterThan(50);
    const en_: Record<string, string> = en;
    const zh: Record<string, string> = zhCN;
    for (const a of AUDIT_ACTIONS) {
      const key = `audit.action.${a}.label`;
      expect(en_[key], `${key} in en`).toBeTruthy();
      expect(zh[key], `${key} in zh-CN`).toBeTruthy();
      expect(zh[key], `${key} is translated`).not.toBe(en_[key]);
    }
    // No label for an action the server does not have.
    const known = new Set<string>(AUDIT_ACTIONS);
    for (const key of Object.keys(en).filter((k) => k.startsWith('audit.action.'))) {
      expect(known.has(key.slice('audit.action.'.length, -'.label'.length)), key).toBe(true);
    }
  });

  it('the page filters by every action and shows labels', () => {
    expect([...PAGE_ACTIONS]).toEqual([...AUDIT_ACTIONS]);
    setLang('zh-CN');
    expect(actionLabel('department_moved')).toBe('移动了部门');
    setLang('en');
    expect(actionLabel('department_moved')).toBe('Department moved');
    expect(actionLabel('from_the_future')).toBe('from_the_future');
  });
});
