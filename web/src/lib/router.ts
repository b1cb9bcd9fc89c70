// Paths: `/` (home), `/c/ID` (a conversation), `/c/ID/t/ROOT` (with a thread open), `/admin`, `/directory`.

import type { Route } from './store';

export function parseRoute(path: string): Route {
  const m = /^\/c\/(\d{1,19})(?:\/t\/(\d{1,19}))?\/?$/.exec(path);
  if (m) return m[2] ? { name: 'channel', id: m[1], thread: m[2] } : { name: 'channel', id: m[1] };
  if (/^\/admin\/?$/.test(path)) return { name: 'admin' };
  if (/^\/directory\/?$/.test(path)) return { name: 'directory' };
  return { name: 'home' };
}

export function routePath(r: Route): string {
  switch (r.name) {
    case 'channel':
      return `/c/${r.id}` + (r.thread ? `/t/${r.thread}` : '');
    case 'admin':
      return '/admin';
    case 'directory':
      return '/directory';
    default:
      return '/';
  }
}
