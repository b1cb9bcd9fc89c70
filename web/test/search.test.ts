import { describe, expect, it } from 'vitest';
import { getFilter, hasFile, isDay, setFilter, setHasFile, tokens } from '../src/lib/search';

describe('search box filters', () => {
  it('keeps quoted phrases and quoted filter values whole', () => {
    expect(tokens('会议 "quarterly report" in:"Project Room" from:@ann')).toEqual([
      '会议',
      '"quarterly report"',
      'in:"Project Room"',
      'from:@ann',
    ]);
  });

  it('sets, replaces and removes filters', () => {
    let q = setFilter('budget "Q3 plan"', 'from', '@alice');
    expect(q).toBe('budget "Q3 plan" from:@alice');
    q = setFilter(q, 'from', 'bob');
    expect(q).toBe('budget "Q3 plan" from:@bob');
    q = setFilter(q, 'in', '#general');
    expect(q).toBe('budget "Q3 plan" from:@bob in:#general');
    q = setFilter(q, 'in', 'Project Room');
    expect(q).toBe('budget "Q3 plan" from:@bob in:"Project Room"');
    expect(getFilter(q, 'in')).toBe('Project Room');
    expect(getFilter(q, 'from')).toBe('bob');
    q = setFilter(q, 'from', '');
    expect(q).toBe('budget "Q3 plan" in:"Project Room"');
    expect(getFilter(q, 'after')).toBe('');
    expect(setFilter('会议', 'after', '2026-01-31')).toBe('会议 after:2026-01-31');
    // Display names go without '@' (the server matches a username or a display name).
    expect(setFilter('会议', 'from', '李雷')).toBe('会议 from:李雷');
    expect(setFilter('x', 'from', 'Alice Chen')).toBe('x from:"Alice Chen"');
    expect(getFilter('x from:"Alice Chen"', 'from')).toBe('Alice Chen');
  });

  it('accepts only real days as dates', () => {
    expect(isDay('2024-02-29')).toBe(true);
    expect(isDay('2023-02-29')).toBe(false);
    expect(isDay('2024-2-9')).toBe(false);
    expect(isDay('yesterday')).toBe(false);
  });
});

describe('has:file toggle', () => {
  it('adds, detects and removes the filter without touching the rest', () => {
    const on = setHasFile('report from:@alice', true);
    expect(on).toBe('report from:@alice has:file');
    expect(hasFile(on)).toBe(true);
    expect(hasFile('report HAS:FILE')).toBe(true);
    expect(setHasFile(on, true)).toBe(on);
    expect(setHasFile(on, false)).toBe('report from:@alice');
    expect(hasFile('"has:file"')).toBe(false);
  });
});
