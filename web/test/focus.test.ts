import { describe, expect, it } from 'vitest';
import { cycleFocus } from '../src/lib/focus';

describe('Tab inside a modal dialog', () => {
  it('wraps around at both ends and never leaves the dialog', () => {
    expect(cycleFocus(0, 3, false)).toBe(1);
    expect(cycleFocus(2, 3, false)).toBe(0);
    expect(cycleFocus(0, 3, true)).toBe(2);
    expect(cycleFocus(-1, 3, false)).toBe(0);
    expect(cycleFocus(-1, 3, true)).toBe(2);
    expect(cycleFocus(0, 0, false)).toBe(-1);
  });
});
