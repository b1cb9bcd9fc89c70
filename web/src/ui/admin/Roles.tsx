// The "Roles" tab of the administration page: the permission matrix (roles × permissions).
// Built-in roles (system administrator, member, guest) are shown with their fixed grants;
// custom roles are edited in place (a checkbox saves at once), created and deleted here.
// The server refuses a role granting a permission the editor lacks; its message is shown.

import { useEffect, useState } from 'preact/hooks';
import { api } from '../../lib/api';
import { reportError, store, toast } from '../../lib/client';
import type { RoleDto, RoleList } from '../../gen/wire';
import { t, type Key } from '../../i18n';
import { Spinner } from '../common';
import { Plus } from '../icons';

/** A permission's label: the translated name when there is one, else the wire name. */
export function permissionLabel(name: string): string {
  const key = `perm.${name}`;
  const label = t(key as Key);
  return label === key ? name : label;
}

/** A role's label: built-in roles are translated, custom ones shown as named. */
export function roleLabel(r: RoleDto): string {
  if (!r.builtin) return r.name;
  const key = `roles.builtin.${r.id}`;
  const label = t(key as Key);
  return label === key ? r.name : label;
}

export function RolesTab() {
  const [data, setData] = useState<RoleList | null>(null);
  const [name, setName] = useState('');
  const load = () => api.roles().then(setData, reportError);
  useEffect(() => void load(), []);

  const toggle = async (role: RoleDto, perm: string, on: boolean) => {
    const permissions = on ? [...role.permissions, perm] : role.permissions.filter((p) => p !== perm);
    try {
      const out = await api.updateRole(role.id, { permissions });
      setData((d) => d && { ...d, roles: d.roles.map((r) => (r.id === out.id ? out : r)) });
    } catch (e) {
      reportError(e);
    }
  };

  const setSecondFactor = async (role: RoleDto, on: boolean) => {
    try {
      const out = await api.updateRole(role.id, { require_second_factor: on });
      setData((d) => d && { ...d, roles: d.roles.map((r) => (r.id === out.id ? out : r)) });
    } catch (e) {
      reportError(e);
    }
  };

  const create = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return;
    try {
      const r = await api.createRole({ name: name.trim(), permissions: [] });
      setName('');
      toast(t('roles.created', { name: r.name }), 'info');
      await load();
    } catch (err) {
      reportError(err);
    }
  };

  const remove = (r: RoleDto) =>
    store.set({
      modal: {
        kind: 'confirm',
        title: t('roles.deleteTitle', { name: r.name }),
        body: t('roles.deleteBody'),
        action: t('common.delete'),
        danger: true,
        onConfirm: () => void api.deleteRole(r.id).then(load, reportError),
      },
    });

  if (!data) return <Spinner />;
  return (
    <div class="admin-section">
      <form class="admin-toolbar" onSubmit={create}>
        <input
          class="input"
          aria-label={t('roles.newName')}
          placeholder={t('roles.newName')}
          value={name}
          maxLength={64}
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
        />
        <button class="btn btn-primary" type="submit" disabled={!name.trim()}>
          <Plus size={16} /> {t('roles.create')}
        </button>
      </form>
      <p class="muted small">{t('roles.note')}</p>
      <div class="table-wrap">
        <table class="table permission-matrix" aria-label={t('roles.matrix')}>
          <thead>
            <tr>
              <th>{t('roles.role')}</th>
              {data.permissions.map((p) => (
                <th key={p.name} title={p.description} class="perm-col">
                  {permissionLabel(p.name)}
                </th>
              ))}
              <th class="perm-col" title={t('mfa.roleHint')}>
                {t('mfa.roleColumn')}
              </th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data.roles.map((r) => (
              <tr key={r.id} data-role={r.name}>
                <th scope="row" title={r.description}>
                  {roleLabel(r)}
                  {r.builtin && <span class="tag">{t('roles.builtin')}</span>}
                </th>
                {data.permissions.map((p) => (
                  <td key={p.name} class="perm-cell">
                    <input
                      type="checkbox"
                      aria-label={`${roleLabel(r)}: ${permissionLabel(p.name)}`}
                      data-perm={p.name}
                      checked={r.permissions.includes(p.name)}
                      disabled={r.builtin}
                      onChange={(e) => void toggle(r, p.name, (e.target as HTMLInputElement).checked)}
                    />
                  </td>
                ))}
                <td class="perm-cell">
                  <input
                    type="checkbox"
                    aria-label={`${roleLabel(r)}: ${t('mfa.roleColumn')}`}
                    data-perm="require_second_factor"
                    checked={r.require_second_factor}
                    disabled={r.builtin}
                    onChange={(e) => void setSecondFactor(r, (e.target as HTMLInputElement).checked)}
                  />
                </td>
                <td class="row-actions">
                  {!r.builtin && (
                    <button class="btn btn-sm btn-danger-ghost" onClick={() => remove(r)}>
                      {t('common.delete')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
