import { describe, expect, it } from 'vitest';
import type { DepartmentDto } from '../src/gen/wire';
import { flattenTree, subtreeIds } from '../src/lib/departments';

const d = (id: string, parent: string | null, position = 0): DepartmentDto => ({
  id,
  parent_id: parent,
  name: `d${id}`,
  position,
  admins: [],
  member_count: 0,
  channels: [],
});

describe('department tree', () => {
  it('orders parents before children, siblings by position then id', () => {
    const list = [d('3', '1'), d('2', '1', -1), d('1', null), d('4', '2'), d('5', '99')];
    expect(flattenTree(list).map((n) => [n.dept.id, n.depth])).toEqual([
      ['1', 0],
      ['2', 1],
      ['4', 2],
      ['3', 1],
      ['5', 0],
    ]);
  });
  it('finds a subtree', () => {
    const list = [d('1', null), d('2', '1'), d('3', '2'), d('4', null)];
    expect([...subtreeIds(list, '2')].sort()).toEqual(['2', '3']);
  });
});
