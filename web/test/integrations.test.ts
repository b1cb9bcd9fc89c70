import { describe, expect, it } from 'vitest';
import { triggerWords } from '../src/ui/admin/Integrations';

describe('integrations', () => {
  it('splits trigger words on spaces and (full-width) commas', () => {
    expect(triggerWords(' deploy,  部署，发布、ship ')).toEqual(['deploy', '部署', '发布', 'ship']);
    expect(triggerWords('   ')).toEqual([]);
  });
});
