// Message search: a button in the sidebar opens an overlay with the query box, its filters
// (from, in, after, before) and the results; a result opens its conversation (or thread)
// scrolled to the message. Snippets are rendered as text nodes, never as HTML.

import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { ensureUsers, errorText, loadLatest, loadUntil, navigate, store } from '../lib/client';
import { type FilterKey, getFilter, hasFile, isDay, type SearchResult, setFilter, setHasFile } from '../lib/search';
import { cleanSnippet } from '../lib/snippet';
import { channelLabel, displayName, formatDate, formatTime } from '../lib/util';
import { t } from '../i18n';
import { Spinner, useFocusTrap, useStore } from './common';
import { Search as SearchIcon, X } from './icons';

const PAGE = 20;

/** Opens the message's conversation and scrolls to it once its history is loaded. */
async function openResult(r: SearchResult) {
  const m = r.message;
  if (m.thread_root_id) {
    navigate({ name: 'channel', id: r.channel.id, thread: m.thread_root_id });
    return;
  }
  navigate({ name: 'channel', id: r.channel.id });
  for (let i = 0; i < 100 && !store.get().timelines[r.channel.id]?.loaded; i++) {
    await new Promise((res) => setTimeout(res, 50));
  }
  await loadUntil(r.channel.id, m.seq - 1);
  // A result newer than what this view holds (it arrived while the socket was catching up):
  // fetch the latest page so the message is there to scroll to.
  const held = store.get().timelines[r.channel.id]?.messages ?? [];
  if (!held.some((x) => x.id === m.id) && (held.length === 0 || held[held.length - 1].seq < m.seq)) {
    await loadLatest(r.channel.id);
  }
  store.set({ focusMessage: { channelId: r.channel.id, id: m.id, at: Date.now() } });
}

function ResultItem({ r, onOpen }: { r: SearchResult; onOpen: () => void }) {
  const users = useStore((s) => s.users);
  const me = useStore((s) => s.me);
  const known = useStore((s) => s.channels[r.channel.id]);
  const where = known ? channelLabel(known, { users, me }) : (r.channel.name ?? '');
  const prefix = r.channel.kind === 'public' || r.channel.kind === 'private' ? '#' : '';
  return (
    <li>
      <button class="search-result" onClick={onOpen} data-msg-id={r.message.id}>
        <div class="search-meta">
          <span class="search-where">
            {prefix}
            {where}
          </span>
          <span class="search-who">{displayName(users[r.message.user_id])}</span>
          <span class="muted small" title={r.message.created_at}>
            {formatDate(r.message.created_at)} {formatTime(r.message.created_at)}
          </span>
        </div>
        <div class="search-snippet">
          {r.message.thread_root_id && <span class="tag search-thread">{t('search.inThread')}</span>}
          {cleanSnippet(r.snippet).map((seg, i) => (seg.hit ? <mark key={i}>{seg.text}</mark> : <span key={i}>{seg.text}</span>))}
        </div>
      </button>
    </li>
  );
}

function SearchOverlay({ onClose }: { onClose: () => void }) {
  // `text` is what the box shows, `q` the query searched: they differ while an IME composes.
  const [text, setText] = useState('');
  const [q, setQuery] = useState('');
  const setQ = (v: string) => {
    setText(v);
    setQuery(v);
  };
  const [results, setResults] = useState<SearchResult[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [searched, setSearched] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const generation = useRef(0);
  const input = useRef<HTMLInputElement>(null);
  const box = useRef<HTMLDivElement>(null);
  // While an IME composes (pinyin `hui` on its way to 会), the text is not the query yet.
  const composing = useRef(false);
  useFocusTrap(box);

  const run = async (query: string, offset: number) => {
    const mine = ++generation.current;
    if (!query.trim()) {
      setResults([]);
      setNext(null);
      setError(null);
      setSearched(false);
      return;
    }
    setLoading(true);
    try {
      const page = await api.search({ q: query.trim(), limit: PAGE, offset });
      if (mine !== generation.current) return;
      ensureUsers(page.results.map((r) => r.message.user_id));
      setResults((prev) => (offset ? [...prev, ...page.results] : page.results));
      setNext(page.next_offset);
      setError(null);
      setSearched(true);
    } catch (e) {
      if (mine === generation.current) setError(errorText(e));
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  };

  useEffect(() => {
    const h = setTimeout(() => void run(q, 0), 300);
    return () => clearTimeout(h);
  }, [q]);
  useEffect(() => input.current?.focus(), []);

  const onFilter = (key: FilterKey, date: boolean) => (e: Event) => {
    const v = (e.target as HTMLInputElement).value;
    if (date && v && !isDay(v)) return;
    setQ(setFilter(q, key, v));
  };
  const textFilter = (key: 'from' | 'in', label: string) => (
    <label class="search-filter">
      <span>{label}</span>
      <input
        type="text"
        value={getFilter(q, key)}
        placeholder={key === 'from' ? t('search.fromPlaceholder') : '#channel'}
        onInput={onFilter(key, false)}
      />
    </label>
  );
  const dateFilter = (key: 'after' | 'before', label: string) => (
    <label class="search-filter">
      <span>{label}</span>
      <input type="date" value={getFilter(q, key)} onInput={onFilter(key, true)} />
    </label>
  );

  return (
    <div
      class="search-overlay"
      role="dialog"
      aria-modal="true"
      aria-label={t('search.title')}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          onClose();
        }
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div class="search-box" ref={box}>
        <div class="search-head">
          <SearchIcon size={16} />
          <input
            ref={input}
            class="search-input"
            type="text"
            role="searchbox"
            enterKeyHint="search"
            autoComplete="off"
            maxLength={500}
            value={text}
            placeholder={t('search.placeholder')}
            aria-label={t('search.title')}
            onInput={(e) => {
              const v = (e.target as HTMLInputElement).value;
              setText(v);
              if (!composing.current && !(e as InputEvent).isComposing) setQuery(v);
            }}
            onCompositionStart={() => {
              composing.current = true;
            }}
            onCompositionEnd={(e) => {
              composing.current = false;
              setQ((e.target as HTMLInputElement).value);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !composing.current && !e.isComposing && e.keyCode !== 229) {
                e.preventDefault();
                void run((e.target as HTMLInputElement).value, 0);
              }
            }}
          />
          {loading && <Spinner />}
          <button class="icon-btn" onClick={onClose} aria-label={t('common.close')} title={t('common.close')}>
            <X />
          </button>
        </div>
        <div class="search-filters">
          {textFilter('from', t('search.from'))}
          {textFilter('in', t('search.in'))}
          {dateFilter('after', t('search.after'))}
          {dateFilter('before', t('search.before'))}
          <label class="search-filter">
            <input type="checkbox" checked={hasFile(q)} onChange={(e) => setQ(setHasFile(q, (e.target as HTMLInputElement).checked))} />
            <span>{t('search.hasFile')}</span>
          </label>
        </div>
        <div class="search-hint muted small">{t('search.hint')}</div>
        {error && <div class="list-error">{error}</div>}
        {!error && searched && results.length === 0 && <div class="panel-empty">{t('search.none')}</div>}
        <ul class="search-results">
          {results.map((r) => (
            <ResultItem
              key={r.message.id}
              r={r}
              onOpen={() => {
                onClose();
                void openResult(r);
              }}
            />
          ))}
        </ul>
        {next !== null && !error && (
          <button class="link-btn search-more" disabled={loading} onClick={() => void run(q, next)}>
            {t('search.more')}
          </button>
        )}
      </div>
    </div>
  );
}

/** The sidebar's search button and, once clicked, the search overlay. */
export function SearchBox() {
  const [open, setOpen] = useState(false);
  useStore((s) => s.prefs);
  return (
    <>
      <button class="jump-btn search-open" onClick={() => setOpen(true)}>
        <SearchIcon size={15} />
        <span>{t('search.button')}</span>
      </button>
      {open && <SearchOverlay onClose={() => setOpen(false)} />}
    </>
  );
}
