import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { contrastRatio, PALETTE } from '../src/lib/util';

describe('contrast (WCAG AA, 4.5:1 for text)', () => {
  it('white initials on every avatar colour', () => {
    for (const c of PALETTE) expect(contrastRatio(c, '#ffffff'), c).toBeGreaterThanOrEqual(4.5);
  });

  it('the faint text colour (placeholders, times) on the backgrounds of both themes', () => {
    const css = readFileSync(join(__dirname, '../src/styles.css'), 'utf8');
    // The light theme's block first, then the dark one.
    const blocks = [...css.matchAll(/--bg: (#[0-9a-f]{6});\s*--bg-side: (#[0-9a-f]{6});\s*--bg-elev: (#[0-9a-f]{6});[\s\S]*?--text-3: (#[0-9a-f]{6});/g)];
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const [, bg, side, elev, faint] of blocks) {
      for (const back of [bg, side, elev]) expect(contrastRatio(faint, back), `${faint} on ${back}`).toBeGreaterThanOrEqual(4.5);
    }
  });
});

describe('the style sheet', () => {
  it('closes every rule (an open brace nests every later rule under it)', () => {
    const css = readFileSync(join(__dirname, '../src/styles.css'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    let depth = 0;
    css.split('\n').forEach((line, i) => {
      depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
      expect(depth, `line ${i + 1}`).toBeGreaterThanOrEqual(0);
    });
    expect(depth).toBe(0);
  });
});
