// The administration page's department tree editor: create, rename, reorder, move (by choosing
// a new parent; its people and sub-departments move with it), delete, set heads and add people
// with a title. Rules and refusals come from the server (docs/admin/departments.md).

import { useEffect, useState } from 'preact/hooks';
import type { DepartmentDto, DepartmentMemberDto } from '../../gen/wire';
import { api } from '../../lib/api';
import { errorText, toast } from '../../lib/client';
import { deptApi, flattenTree, subtreeIds } from '../../lib/departments';
import { cls, displayName } from '../../lib/util';
import { t } from '../../i18n';
import { Spinner } from '../common';

function Editor({ dept, all, onChanged }: { dept: DepartmentDto; all: DepartmentDto[]; onChanged: () => void }) {
  const [name, setName] = useState(dept.name);
  const [parent, setParent] = useState(dept.parent_id ?? '');
  const [position, setPosition] = useState(String(dept.position));
  const [members, setMembers] = useState<DepartmentMemberDto[] | null>(null);
  const [who, setWho] = useState('');
  const [title, setTitle] = useState('');
  const [head, setHead] = useState(false);
  const [error, setError] = useState('');
  const load = () => deptApi.members(dept.id).then(setMembers, (e) => setError(errorText(e)));
  useEffect(() => {
    setName(dept.name);
    setParent(dept.parent_id ?? '');
    setPosition(String(dept.position));
    setError('');
    void load();
  }, [dept.id]);
  const below = subtreeIds(all, dept.id);
  const run = async (f: () => Promise<unknown>) => {
    setError('');
    try {
      await f();
      onChanged();
      void load();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const save = (e: Event) => {
    e.preventDefault();
    void run(() =>
      deptApi.update(dept.id, {
        name: name.trim() !== dept.name ? name : undefined,
        parent_id: (parent || null) !== dept.parent_id ? parent || null : undefined,
        position: Number(position) !== dept.position ? Number(position) : undefined,
      }),
    );
  };
  const addPerson = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const found = await api.users({ q: who.trim(), limit: 5 });
      const u = found.find((x) => x.username === who.trim().toLowerCase()) ?? found[0];
      if (!u) throw new Error(t('departments.noSuchUser'));
      await deptApi.setMember(dept.id, u.id, { title, is_head: head });
      setWho('');
      setTitle('');
      setHead(false);
    });
  };
  return (
    <div class="dept-editor" data-testid="dept-editor">
      <form class="form dept-form" onSubmit={save}>
        <label class="field">
          <span>{t('departments.name')}</span>
          <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} data-testid="dept-name" />
        </label>
        <label class="field">
          <span>{t('departments.parent')}</span>
          <select value={parent} onChange={(e) => setParent((e.target as HTMLSelectElement).value)} data-testid="dept-parent">
            <option value="">{t('departments.root')}</option>
            {flattenTree(all)
              .filter((n) => !below.has(n.dept.id))
              .map((n) => (
                <option key={n.dept.id} value={n.dept.id}>
                  {'\u00a0'.repeat(n.depth * 2) + n.dept.name}
                </option>
              ))}
          </select>
        </label>
        <label class="field">
          <span>{t('departments.position')}</span>
          <input type="number" value={position} onInput={(e) => setPosition((e.target as HTMLInputElement).value)} />
        </label>
        <div class="form-actions">
          <button class="btn btn-primary" type="submit">
            {t('common.save')}
          </button>
          <button
            class="btn btn-danger"
            type="button"
            onClick={() => {
              if (confirm(t('departments.confirmDelete', { name: dept.name }))) void run(() => deptApi.remove(dept.id));
            }}
          >
            {t('departments.delete')}
          </button>
        </div>
      </form>
      {error && <p class="error-text" role="alert">{error}</p>}
      <h3>{t('departments.people')}</h3>
      {!members && <Spinner />}
      <ul class="dept-members">
        {members?.map((m) => (
          <li key={m.user.id}>
            <span>{displayName(m.user)}</span>
            <span class="muted small"> @{m.user.username}{m.title ? ` · ${m.title}` : ''}</span>
            <label class="small">
              <input
                type="checkbox"
                checked={m.is_head}
                onChange={(e) =>
                  void run(() => deptApi.setMember(dept.id, m.user.id, { title: m.title, is_head: (e.target as HTMLInputElement).checked }))
                }
              />{' '}
              {t('directory.head')}
            </label>
            <button class="btn btn-sm" onClick={() => void run(() => deptApi.removeMember(dept.id, m.user.id))}>
              {t('departments.remove')}
            </button>
          </li>
        ))}
      </ul>
      <form class="form dept-add" onSubmit={addPerson}>
        <input value={who} onInput={(e) => setWho((e.target as HTMLInputElement).value)} placeholder={t('departments.username')} data-testid="dept-add-user" />
        <input value={title} onInput={(e) => setTitle((e.target as HTMLInputElement).value)} placeholder={t('departments.title_')} data-testid="dept-add-title" />
        <label class="small">
          <input type="checkbox" checked={head} onChange={(e) => setHead((e.target as HTMLInputElement).checked)} /> {t('directory.head')}
        </label>
        <button class="btn" type="submit" disabled={!who.trim()} data-testid="dept-add-submit">
          {t('departments.addPerson')}
        </button>
      </form>
    </div>
  );
}

export function DepartmentsAdmin() {
  const [all, setAll] = useState<DepartmentDto[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [newName, setNewName] = useState('');
  const [error, setError] = useState('');
  const reload = () => deptApi.tree().then(setAll, (e) => setError(errorText(e)));
  useEffect(() => {
    void reload();
  }, []);
  const create = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const d = await deptApi.create({ name: newName, parent_id: selected ?? null, position: null });
      setNewName('');
      toast(t('departments.created', { name: d.name }), 'info');
      await reload();
      setSelected(d.id);
    } catch (err) {
      setError(errorText(err));
    }
  };
  if (!all) return <Spinner />;
  const current = all.find((d) => d.id === selected);
  return (
    <div class="admin-section dept-admin">
      <form class="admin-toolbar" onSubmit={create}>
        <input
          value={newName}
          onInput={(e) => setNewName((e.target as HTMLInputElement).value)}
          placeholder={current ? t('departments.newUnder', { name: current.name }) : t('departments.newRoot')}
          data-testid="dept-new-name"
        />
        <button class="btn btn-primary" type="submit" disabled={!newName.trim()} data-testid="dept-create">
          {t('departments.create')}
        </button>
        {selected && (
          <button class="btn" type="button" onClick={() => setSelected(null)}>
            {t('departments.newRoot')}
          </button>
        )}
      </form>
      {error && <p class="error-text" role="alert">{error}</p>}
      <div class="dept-layout">
        <nav class="dir-tree" aria-label={t('directory.tree')}>
          {all.length === 0 && <p class="muted">{t('directory.empty')}</p>}
          {flattenTree(all).map(({ dept, depth }) => (
            <button
              key={dept.id}
              class={cls('dir-node', selected === dept.id && 'on')}
              style={{ paddingLeft: `${8 + depth * 16}px` }}
              onClick={() => setSelected(dept.id)}
            >
              <span>{dept.name}</span>
              <span class="muted small">{dept.member_count}</span>
            </button>
          ))}
        </nav>
        {current ? <Editor dept={current} all={all} onChanged={() => void reload()} /> : <p class="muted">{t('departments.pick')}</p>}
      </div>
    </div>
  );
}
