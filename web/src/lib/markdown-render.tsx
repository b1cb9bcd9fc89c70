// Renders the Markdown tree as Preact nodes. Text always becomes DOM text (escaped by
// construction); there is no `dangerouslySetInnerHTML` anywhere in the client.

import type { ComponentChildren } from 'preact';
import { parse, type Block, type Inline } from './markdown';

export interface RenderContext {
  /** The viewer's username: mentions of it are highlighted. */
  me?: string;
  /** Whether a username names a known user (unknown `@words` stay plain text). */
  isUser?: (username: string) => boolean;
}

const GROUP = new Set(['channel', 'all', 'everyone', 'here']);

function inlines(ns: Inline[], ctx: RenderContext): ComponentChildren[] {
  return ns.map((n, i) => inline(n, i, ctx));
}

function inline(n: Inline, key: number, ctx: RenderContext): ComponentChildren {
  switch (n.t) {
    case 'text':
      return n.v;
    case 'br':
      return <br key={key} />;
    case 'code':
      return <code key={key}>{n.v}</code>;
    case 'strong':
      return <strong key={key}>{inlines(n.c, ctx)}</strong>;
    case 'em':
      return <em key={key}>{inlines(n.c, ctx)}</em>;
    case 'del':
      return <del key={key}>{inlines(n.c, ctx)}</del>;
    case 'link':
      return (
        <a key={key} href={n.href} target="_blank" rel="noopener noreferrer nofollow">
          {inlines(n.c, ctx)}
        </a>
      );
    case 'emoji':
      return (
        <span key={key} class="emoji" title={`:${n.name}:`}>
          {n.v}
        </span>
      );
    case 'mention': {
      const lower = n.name.toLowerCase();
      const group = GROUP.has(lower);
      if (!group && ctx.isUser && !ctx.isUser(lower)) return '@' + n.name;
      const mine = group || (ctx.me !== undefined && lower === ctx.me.toLowerCase());
      return (
        <span key={key} class={'mention' + (mine ? ' mention-me' : '')} data-username={group ? undefined : lower}>
          @{n.name}
        </span>
      );
    }
  }
}

function block(b: Block, key: number, ctx: RenderContext): ComponentChildren {
  switch (b.t) {
    case 'p':
      return <p key={key}>{inlines(b.c, ctx)}</p>;
    case 'h':
      return (
        <p key={key} class={`md-h md-h${b.level}`}>
          {inlines(b.c, ctx)}
        </p>
      );
    case 'pre':
      return (
        <pre key={key} data-lang={b.lang || undefined}>
          <code>{b.v}</code>
        </pre>
      );
    case 'quote':
      return <blockquote key={key}>{blocks(b.c, ctx)}</blockquote>;
    case 'ul':
      return (
        <ul key={key}>
          {b.items.map((it, j) => (
            <li key={j}>{blocks(it, ctx)}</li>
          ))}
        </ul>
      );
    case 'ol':
      return (
        <ol key={key} start={b.start}>
          {b.items.map((it, j) => (
            <li key={j}>{blocks(it, ctx)}</li>
          ))}
        </ol>
      );
  }
}

function blocks(bs: Block[], ctx: RenderContext): ComponentChildren[] {
  return bs.map((b, i) => block(b, i, ctx));
}

export function Markdown({ text, ctx }: { text: string; ctx: RenderContext }) {
  return <div class="md">{blocks(parse(text), ctx)}</div>;
}
