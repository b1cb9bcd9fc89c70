// The department tree and the directory (通讯录): REST calls (docs/admin/departments.md) and
// building the tree from the flat list the server sends.

import type {
  CardDto,
  CreateDepartmentRequest,
  DepartmentDto,
  DepartmentMemberList,
  DepartmentTree,
  PeopleList,
  SetDepartmentMemberRequest,
  UpdateDepartmentRequest,
} from '../gen/wire';
import { qs, request } from './api';

const enc = encodeURIComponent;

export const deptApi = {
  tree: () => request<DepartmentTree>('GET', '/departments').then((r) => r.departments),
  create: (body: CreateDepartmentRequest) => request<DepartmentDto>('POST', '/departments', body),
  update: (id: string, body: UpdateDepartmentRequest) => request<DepartmentDto>('PATCH', `/departments/${enc(id)}`, body),
  remove: (id: string) => request<void>('DELETE', `/departments/${enc(id)}`),
  members: (id: string) =>
    request<DepartmentMemberList>('GET', `/departments/${enc(id)}/members`).then((r) => r.members),
  setMember: (id: string, userId: string, body: SetDepartmentMemberRequest) =>
    request<unknown>('PUT', `/departments/${enc(id)}/members/${enc(userId)}`, body),
  removeMember: (id: string, userId: string) => request<void>('DELETE', `/departments/${enc(id)}/members/${enc(userId)}`),
  search: (q: string) => request<PeopleList>('GET', '/directory/search' + qs({ q })).then((r) => r.users),
  card: (userId: string) => request<CardDto>('GET', `/users/${enc(userId)}/card`),
};

export interface TreeNode {
  dept: DepartmentDto;
  depth: number;
}

/** The departments in display order (each parent followed by its children by position, then
 * id), with their depth; departments whose parent is missing are shown as roots. */
export function flattenTree(list: DepartmentDto[]): TreeNode[] {
  const ids = new Set(list.map((d) => d.id));
  const children = new Map<string | null, DepartmentDto[]>();
  for (const d of list) {
    const p = d.parent_id && ids.has(d.parent_id) ? d.parent_id : null;
    const arr = children.get(p) ?? [];
    arr.push(d);
    children.set(p, arr);
  }
  for (const arr of children.values()) {
    arr.sort((a, b) => a.position - b.position || Number(BigInt(a.id) - BigInt(b.id)));
  }
  const out: TreeNode[] = [];
  const seen = new Set<string>();
  const walk = (parent: string | null, depth: number) => {
    for (const d of children.get(parent) ?? []) {
      if (seen.has(d.id)) continue;
      seen.add(d.id);
      out.push({ dept: d, depth });
      walk(d.id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

/** The ids of `id` and every department below it. */
export function subtreeIds(list: DepartmentDto[], id: string): Set<string> {
  const out = new Set([id]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const d of list) {
      if (d.parent_id && out.has(d.parent_id) && !out.has(d.id)) {
        out.add(d.id);
        grew = true;
      }
    }
  }
  return out;
}
