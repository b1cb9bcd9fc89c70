// Small shared pieces: avatars with presence, modals, menus, empty states.

import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import { store } from '../lib/client';
import { useSelect } from '../lib/store';
import type { User } from '../lib/types';
import { cls, colorFor, displayName, initials } from '../lib/util';
import { trapFocus } from '../lib/focus';
import { t } from '../i18n';
import { X } from './icons';

export function useStore<T>(select: Parameters<typeof useSelect<T>>[1]): T {
  return useSelect(store, select);
}

export function PresenceDot({ userId, class: c }: { userId: string; class?: string }) {
  const p = useStore((s) => s.presence[userId]);
  const state = p?.presence ?? 'offline';
  const label = p?.dnd ? t('presence.dnd') : t(`presence.${state}`);
  return <span class={cls('presence', `presence-${state}`, p?.dnd && 'presence-dnd', c)} title={label} aria-label={label} />;
}

export function Avatar({
  user,
  userId,
  size = 36,
  presence = false,
}: {
  user?: User;
  userId: string;
  size?: number;
  presence?: boolean;
}) {
  const name = displayName(user);
  const radius = Math.round(size * 0.28);
  // Small avatars show one character: two are unreadable below ~28 px.
  const full = initials(name);
  const chars = [...full];
  // Latin initials keep the first letter ("B" for Bob Li), Chinese the given name's last ("娜").
  const text = size >= 28 ? full : /^[A-Z0-9]/.test(full) ? chars[0] : chars[chars.length - 1];
  return (
    <span
      class="avatar"
      style={{ width: `${size}px`, height: `${size}px`, borderRadius: `${radius}px`, background: colorFor(userId) }}
      aria-hidden="true"
    >
      <span class="avatar-text" style={{ fontSize: `${Math.round(size * ([...text].length > 1 ? 0.38 : 0.5))}px` }}>
        {text}
      </span>
      {presence && <PresenceDot userId={userId} class={size < 26 ? 'presence-sm' : undefined} />}
    </span>
  );
}

export function UserAvatar({ userId, size, presence }: { userId: string; size?: number; presence?: boolean }) {
  const user = useStore((s) => s.users[userId]);
  return <Avatar user={user} userId={userId} size={size} presence={presence} />;
}

/**
 * Keeps keyboard focus inside the element while the component is mounted (modal dialogs). Set
 * before the dialog is first painted, so a Tab pressed as soon as it shows stays inside.
 */
export function useFocusTrap(ref: { current: HTMLElement | null }) {
  useLayoutEffect(() => {
    const el = ref.current;
    return el ? trapFocus(el) : undefined;
  }, []);
}

export function Modal({
  title,
  onClose,
  children,
  wide,
  class: c,
  label,
}: {
  title?: ComponentChildren;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
  class?: string;
  label?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>('[autofocus], input, textarea, select, button:not(.modal-close)');
    first?.focus();
    return () => prev?.focus?.();
  }, []);
  useFocusTrap(ref);
  return (
    <div
      class="modal-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div
        class={cls('modal', wide && 'modal-wide', c)}
        role="dialog"
        aria-modal="true"
        aria-label={label ?? (typeof title === 'string' ? title : undefined)}
        ref={ref}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            onClose();
          }
        }}
      >
        {title !== undefined && (
          <div class="modal-head">
            <h2>{title}</h2>
            <button class="icon-btn modal-close" onClick={onClose} aria-label={t('common.close')} title={t('common.close')}>
              <X />
            </button>
          </div>
        )}
        {children}
      </div>
    </div>
  );
}

/** A popover menu anchored to its trigger; closes on outside click or Escape. */
export function Menu({ onClose, children, class: c }: { onClose: () => void; children: ComponentChildren; class?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const down = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) onClose();
    };
    const key = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    const id = setTimeout(() => document.addEventListener('mousedown', down), 0);
    document.addEventListener('keydown', key);
    return () => {
      clearTimeout(id);
      document.removeEventListener('mousedown', down);
      document.removeEventListener('keydown', key);
    };
  }, [onClose]);
  return (
    <div class={cls('menu', c)} ref={ref} role="menu">
      {children}
    </div>
  );
}

export function Spinner({ size = 18 }: { size?: number }) {
  return <span class="spinner" style={{ width: `${size}px`, height: `${size}px` }} aria-label={t('common.loading')} />;
}

export function Kbd({ children }: { children: ComponentChildren }) {
  return <kbd class="kbd">{children}</kbd>;
}

export const isMac = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
