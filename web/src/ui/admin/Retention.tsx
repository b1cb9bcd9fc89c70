// Administration: retention and legal holds (docs/admin/retention.md). The Retention tab shows
// and sets the global policy (channels, direct conversations), the channels with a policy of
// their own, the last purge with its per-channel report, and starts a purge now. The Legal holds
// tab lists the holds, places one on a person or a channel, and releases one.

import { useEffect, useState } from 'preact/hooks';
import { api, request } from '../../lib/api';
import { reportError, toast } from '../../lib/client';
import type { Channel, User } from '../../lib/types';
import type {
  CreateHoldRequest,
  LegalHoldDto,
  LegalHoldList,
  RetentionDto,
  RetentionRunStarted,
} from '../../gen/wire';
import { displayName, formatFull } from '../../lib/util';
import { t } from '../../i18n';
import { Spinner } from '../common';

const enc = encodeURIComponent;

export const retentionApi = {
  get: () => request<RetentionDto>('GET', '/admin/retention'),
  setPolicy: (message_days: number | null, dm_days: number | null) =>
    request<RetentionDto>('PUT', '/admin/retention', { message_days, dm_days }),
  setChannel: (id: string, days: number | null) => request<RetentionDto>('PUT', `/admin/retention/channels/${enc(id)}`, { days }),
  clearChannel: (id: string) => request<RetentionDto>('DELETE', `/admin/retention/channels/${enc(id)}`),
  run: () => request<RetentionRunStarted>('POST', '/admin/retention/run'),
  holds: () => request<LegalHoldList>('GET', '/admin/holds').then((r) => r.holds),
  createHold: (body: CreateHoldRequest) => request<LegalHoldDto>('POST', '/admin/holds', body),
  releaseHold: (id: string) => request<LegalHoldDto>('DELETE', `/admin/holds/${enc(id)}`),
};

/** "" is "keep forever"; otherwise a whole number of days. */
function parseDays(v: string): number | null | undefined {
  const s = v.trim();
  if (s === '') return null;
  if (!/^[0-9]{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 36500 ? n : undefined;
}

function days(n: number | null | undefined): string {
  return n == null ? t('retention.forever') : t('retention.days', { n });
}

function kindLabel(kind: string | null | undefined): string {
  if (kind === 'dm') return t('retention.kind.dm');
  if (kind === 'group_dm') return t('retention.kind.groupDm');
  if (kind === 'private') return t('retention.kind.private');
  return t('retention.kind.public');
}

export function RetentionTab() {
  const [data, setData] = useState<RetentionDto | null>(null);
  const [messageDays, setMessageDays] = useState('');
  const [dmDays, setDmDays] = useState('');
  const [channels, setChannels] = useState<Channel[]>([]);
  const [channelId, setChannelId] = useState('');
  const [channelDays, setChannelDays] = useState('');
  const show = (d: RetentionDto) => {
    setData(d);
    setMessageDays(d.message_days == null ? '' : String(d.message_days));
    setDmDays(d.dm_days == null ? '' : String(d.dm_days));
  };
  const load = () => retentionApi.get().then(show, reportError);
  useEffect(() => {
    void load();
    api.browse({ include_archived: true, limit: 200 }).then(
      (l) => setChannels(l.filter((c) => c.kind === 'public' || c.kind === 'private')),
      reportError,
    );
  }, []);
  // While a purge runs, look again every two seconds.
  useEffect(() => {
    if (!data?.running) return;
    const id = setTimeout(() => void load(), 2000);
    return () => clearTimeout(id);
  }, [data]);
  const save = async (e: Event) => {
    e.preventDefault();
    const m = parseDays(messageDays);
    const d = parseDays(dmDays);
    if (m === undefined || d === undefined) {
      toast(t('retention.badDays'), 'error');
      return;
    }
    try {
      show(await retentionApi.setPolicy(m, d));
      toast(t('retention.saved'), 'info');
    } catch (err) {
      reportError(err);
    }
  };
  const addOverride = async (e: Event) => {
    e.preventDefault();
    const d = parseDays(channelDays);
    if (!channelId || d === undefined) {
      toast(t('retention.badDays'), 'error');
      return;
    }
    try {
      show(await retentionApi.setChannel(channelId, d));
      setChannelDays('');
    } catch (err) {
      reportError(err);
    }
  };
  const clear = async (id: string) => {
    try {
      show(await retentionApi.clearChannel(id));
    } catch (err) {
      reportError(err);
    }
  };
  const run = async () => {
    try {
      const r = await retentionApi.run();
      toast(r.started ? t('retention.started') : t('retention.alreadyRunning'), 'info');
      setData((d) => (d ? { ...d, running: true } : d));
    } catch (err) {
      reportError(err);
    }
  };
  if (!data) return <Spinner />;
  const last = data.last_run;
  return (
    <div class="admin-section retention">
      <div class="admin-toolbar">
        <button class="btn" onClick={() => void load()}>
          {t('retention.refresh')}
        </button>
        <button class="btn btn-primary retention-run" disabled={data.running} onClick={() => void run()}>
          {t('retention.runNow')}
        </button>
      </div>
      <h3>{t('retention.policy')}</h3>
      <form class="retention-policy" onSubmit={(e) => void save(e)}>
        <label>
          {t('retention.messageDays')}
          <input
            name="message_days"
            inputMode="numeric"
            placeholder={t('retention.forever')}
            value={messageDays}
            onInput={(e) => setMessageDays((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          {t('retention.dmDays')}
          <input
            name="dm_days"
            inputMode="numeric"
            placeholder={t('retention.forever')}
            value={dmDays}
            onInput={(e) => setDmDays((e.target as HTMLInputElement).value)}
          />
        </label>
        <button class="btn btn-primary" type="submit">
          {t('retention.save')}
        </button>
      </form>
      <p class="muted small">
        {data.policy_source === 'api' ? t('retention.sourceApi') : t('retention.sourceConfig')}{' '}
        {data.schedule_enabled ? t('retention.scheduleOn', { h: Math.round(data.interval_secs / 3600) }) : t('retention.scheduleOff')}
      </p>
      <h3>{t('retention.overrides')}</h3>
      <form class="retention-override" onSubmit={(e) => void addOverride(e)}>
        <select name="channel" value={channelId} onChange={(e) => setChannelId((e.target as HTMLSelectElement).value)}>
          <option value="">{t('retention.pickChannel')}</option>
          {channels.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
        <input
          name="days"
          inputMode="numeric"
          placeholder={t('retention.forever')}
          value={channelDays}
          onInput={(e) => setChannelDays((e.target as HTMLInputElement).value)}
        />
        <button class="btn" type="submit">
          {t('retention.setOverride')}
        </button>
      </form>
      {data.channels.length === 0 ? (
        <p class="muted">{t('retention.noOverrides')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table retention-overrides">
            <thead>
              <tr>
                <th>{t('retention.channel')}</th>
                <th>{t('retention.keep')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.channels.map((c) => (
                <tr key={c.channel_id} data-channel={c.channel_id}>
                  <td>{c.name ?? c.channel_id}</td>
                  <td>{days(c.days)}</td>
                  <td>
                    <button class="btn btn-small" onClick={() => void clear(c.channel_id)}>
                      {t('retention.clearOverride')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>{t('retention.lastRun')}</h3>
      {data.running && <p class="muted">{t('retention.running')}</p>}
      {!last ? (
        <p class="muted">{t('retention.noRun')}</p>
      ) : (
        <div class="retention-last">
          <p>
            {formatFull(last.finished_at)} ·{' '}
            <span class="retention-summary">
              {t('retention.summary', { messages: last.messages, files: last.files, held: last.held })}
            </span>
          </p>
          {last.channels.length > 0 && (
            <div class="table-wrap">
              <table class="table retention-report">
                <thead>
                  <tr>
                    <th>{t('retention.channel')}</th>
                    <th>{t('retention.messages')}</th>
                    <th>{t('retention.files')}</th>
                    <th>{t('retention.held')}</th>
                  </tr>
                </thead>
                <tbody>
                  {last.channels.map((c) => (
                    <tr key={c.channel_id} data-channel={c.channel_id}>
                      <td>
                        {c.name ?? kindLabel(c.kind)} <span class="muted small">{kindLabel(c.kind)}</span>
                      </td>
                      <td>{c.messages}</td>
                      <td>{c.files}</td>
                      <td>{c.held}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
      <p class="muted small">{t('retention.note')}</p>
    </div>
  );
}

/** A `datetime-local` value as RFC 3339 (UTC). */
function toRfc3339(local: string): string | null {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export function HoldsTab() {
  const [holds, setHolds] = useState<LegalHoldDto[] | null>(null);
  const [users, setUsers] = useState<User[]>([]);
  const [channels, setChannels] = useState<Channel[]>([]);
  const [kind, setKind] = useState<'user' | 'channel'>('user');
  const [target, setTarget] = useState('');
  const [starts, setStarts] = useState('');
  const [ends, setEnds] = useState('');
  const [reason, setReason] = useState('');
  const load = () => retentionApi.holds().then(setHolds, reportError);
  useEffect(() => {
    void load();
    api.users({ limit: 200 }).then(setUsers, reportError);
    api.browse({ include_archived: true, limit: 200 }).then(setChannels, reportError);
  }, []);
  const userName = (id: string | null | undefined) => {
    const u = users.find((x) => x.id === id);
    return u ? displayName(u) : id ?? '';
  };
  const channelName = (id: string | null | undefined) => channels.find((c) => c.id === id)?.name ?? id ?? '';
  const create = async (e: Event) => {
    e.preventDefault();
    const startsAt = toRfc3339(starts);
    if (!target || !startsAt || !reason.trim()) {
      toast(t('holds.incomplete'), 'error');
      return;
    }
    try {
      await retentionApi.createHold({
        user_id: kind === 'user' ? target : null,
        channel_id: kind === 'channel' ? target : null,
        starts_at: startsAt,
        ends_at: toRfc3339(ends),
        reason: reason.trim(),
      });
      setReason('');
      toast(t('holds.created'), 'info');
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  const release = async (h: LegalHoldDto) => {
    if (!confirm(t('holds.confirmRelease'))) return;
    try {
      await retentionApi.releaseHold(h.id);
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  return (
    <div class="admin-section holds">
      <h3>{t('holds.new')}</h3>
      <form class="hold-form" onSubmit={(e) => void create(e)}>
        <select
          name="kind"
          value={kind}
          onChange={(e) => {
            setKind((e.target as HTMLSelectElement).value as 'user' | 'channel');
            setTarget('');
          }}
        >
          <option value="user">{t('holds.person')}</option>
          <option value="channel">{t('holds.channel')}</option>
        </select>
        <select name="target" value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
          <option value="">{kind === 'user' ? t('holds.pickPerson') : t('holds.pickChannel')}</option>
          {kind === 'user'
            ? users.map((u) => (
                <option key={u.id} value={u.id}>
                  {displayName(u)} (@{u.username})
                </option>
              ))
            : channels.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
        </select>
        <label>
          {t('holds.from')}
          <input name="starts_at" type="datetime-local" value={starts} onInput={(e) => setStarts((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t('holds.until')}
          <input name="ends_at" type="datetime-local" value={ends} onInput={(e) => setEnds((e.target as HTMLInputElement).value)} />
        </label>
        <input
          name="reason"
          maxLength={1000}
          placeholder={t('holds.reason')}
          value={reason}
          onInput={(e) => setReason((e.target as HTMLInputElement).value)}
        />
        <button class="btn btn-primary" type="submit">
          {t('holds.place')}
        </button>
      </form>
      <h3>{t('holds.list')}</h3>
      {!holds ? (
        <Spinner />
      ) : holds.length === 0 ? (
        <p class="muted">{t('holds.none')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table holds-list">
            <thead>
              <tr>
                <th>{t('holds.target')}</th>
                <th>{t('holds.range')}</th>
                <th>{t('holds.reason')}</th>
                <th>{t('holds.state')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {holds.map((h) => (
                <tr key={h.id} data-hold={h.id}>
                  <td>{h.user_id ? `${t('holds.person')}: ${userName(h.user_id)}` : `${t('holds.channel')}: ${channelName(h.channel_id)}`}</td>
                  <td class="small">
                    {formatFull(h.starts_at)} – {h.ends_at ? formatFull(h.ends_at) : t('holds.noEnd')}
                  </td>
                  <td class="hold-reason">{h.reason}</td>
                  <td>{h.released_at ? t('holds.released', { at: formatFull(h.released_at) }) : t('holds.active')}</td>
                  <td>
                    {!h.released_at && (
                      <button class="btn btn-small" onClick={() => void release(h)}>
                        {t('holds.release')}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted small">{t('holds.note')}</p>
    </div>
  );
}
