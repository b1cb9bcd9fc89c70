// The directory (通讯录): the department tree on the left, the people of the chosen department
// (or of a search by name, pinyin or initials), and a person's card.

import { useEffect, useState } from 'preact/hooks';
import type { CardDto, DepartmentDto, UserDto } from '../gen/wire';
import { errorText, navigate, openDm } from '../lib/client';
import { deptApi, flattenTree } from '../lib/departments';
import { cls, displayName } from '../lib/util';
import { t } from '../i18n';
import { Spinner, useStore } from './common';
import { ChevronLeft, Search } from './icons';
import { ConnectionBanner } from './Conversation';

interface Person {
  user: UserDto;
  title?: string;
  is_head?: boolean;
}

function PersonCard({ userId, onClose }: { userId: string; onClose: () => void }) {
  const [card, setCard] = useState<CardDto | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    setCard(null);
    setError('');
    deptApi.card(userId).then(setCard, (e) => setError(errorText(e)));
  }, [userId]);
  if (error) return <div class="dir-card error-text">{error}</div>;
  if (!card) return <div class="dir-card"><Spinner /></div>;
  return (
    <aside class="dir-card" aria-label={t('directory.card')} data-testid="person-card">
      <div class="dir-card-head">
        <div>
          <div class="dir-card-name">{displayName(card.user)}</div>
          <div class="muted small">@{card.user.username}</div>
        </div>
        <button class="btn btn-sm" onClick={onClose} aria-label={t('common.close')}>
          ×
        </button>
      </div>
      <dl class="dir-card-list">
        <dt>{t('directory.departments')}</dt>
        <dd>
          {card.departments.length === 0 && <span class="muted">—</span>}
          {card.departments.map((d) => (
            <div key={d.department_id}>
              {d.path.join(' / ')}
              {d.title && <span class="muted"> · {d.title}</span>}
              {d.is_head && <span class="status-pill ok">{t('directory.head')}</span>}
            </div>
          ))}
        </dd>
        <dt>{t('directory.manager')}</dt>
        <dd>{card.manager ? displayName(card.manager) : <span class="muted">—</span>}</dd>
        <dt>{t('directory.contact')}</dt>
        <dd>{card.user.email ?? <span class="muted">—</span>}</dd>
      </dl>
      <button class="btn btn-primary" onClick={() => void openDm([card.user.id])}>
        {t('directory.message')}
      </button>
    </aside>
  );
}

export function Directory() {
  useStore((s) => s.prefs);
  const [tree, setTree] = useState<DepartmentDto[] | null>(null);
  const [error, setError] = useState('');
  const [selected, setSelected] = useState<string | null>(null);
  const [people, setPeople] = useState<Person[] | null>(null);
  const [q, setQ] = useState('');
  const [card, setCard] = useState<string | null>(null);

  useEffect(() => {
    deptApi.tree().then(setTree, (e) => setError(errorText(e)));
  }, []);

  useEffect(() => {
    const text = q.trim();
    if (text) {
      const timer = setTimeout(() => {
        deptApi.search(text).then(
          (users) => setPeople(users.map((user) => ({ user }))),
          (e) => setError(errorText(e)),
        );
      }, 150);
      return () => clearTimeout(timer);
    }
    if (selected) {
      setPeople(null);
      deptApi.members(selected).then(setPeople, (e) => setError(errorText(e)));
    } else {
      setPeople([]);
    }
    return undefined;
  }, [q, selected]);

  const nodes = tree ? flattenTree(tree) : [];
  return (
    <section class="conv directory" aria-label={t('directory.title')}>
      <header class="conv-head">
        <button class="icon-btn back-btn" onClick={() => navigate({ name: 'home' })} aria-label={t('common.back')}>
          <ChevronLeft size={20} />
        </button>
        <h1 class="conv-name">{t('directory.title')}</h1>
        <label class="dir-search">
          <Search size={15} />
          <input
            type="search"
            value={q}
            onInput={(e) => setQ((e.target as HTMLInputElement).value)}
            placeholder={t('directory.searchPlaceholder')}
            aria-label={t('directory.search')}
            data-testid="directory-search"
          />
        </label>
      </header>
      <ConnectionBanner />
      {error && <p class="error-text">{error}</p>}
      <div class="dir-body">
        <nav class="dir-tree" aria-label={t('directory.tree')}>
          {!tree && <Spinner />}
          {tree && nodes.length === 0 && <p class="muted">{t('directory.empty')}</p>}
          {nodes.map(({ dept, depth }) => (
            <button
              key={dept.id}
              class={cls('dir-node', selected === dept.id && !q && 'on')}
              style={{ paddingLeft: `${8 + depth * 16}px` }}
              onClick={() => {
                setQ('');
                setSelected(dept.id);
              }}
            >
              <span>{dept.name}</span>
              <span class="muted small">{dept.member_count}</span>
            </button>
          ))}
        </nav>
        <div class="dir-people" data-testid="directory-people">
          {people === null && <Spinner />}
          {people && people.length === 0 && (
            <p class="muted">{q.trim() ? t('directory.noMatches') : t('directory.pick')}</p>
          )}
          {people?.map((p) => (
            <button key={p.user.id} class={cls('dir-person', card === p.user.id && 'on')} onClick={() => setCard(p.user.id)}>
              <span class="dir-person-name">{displayName(p.user)}</span>
              <span class="muted small">
                @{p.user.username}
                {p.title ? ` · ${p.title}` : ''}
              </span>
              {p.is_head && <span class="status-pill ok">{t('directory.head')}</span>}
            </button>
          ))}
        </div>
        {card && <PersonCard userId={card} onClose={() => setCard(null)} />}
      </div>
    </section>
  );
}
