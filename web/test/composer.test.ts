import { describe, expect, it } from 'vitest';
import { isImeEnter } from '../src/ui/Composer';

describe('IME', () => {
  it('the Enter that confirms a composition never sends', () => {
    expect(isImeEnter({ isComposing: true, keyCode: 13 } as KeyboardEvent)).toBe(true);
    expect(isImeEnter({ isComposing: false, keyCode: 229 } as KeyboardEvent)).toBe(true);
    expect(isImeEnter({ isComposing: false, keyCode: 13 } as KeyboardEvent)).toBe(false);
  });
});
