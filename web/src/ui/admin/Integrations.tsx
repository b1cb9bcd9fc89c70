// Administration: integrations (docs/api/integrations.md). Incoming webhooks (a secret URL per
// channel: make, copy the URL once, rotate, delete) and outgoing webhooks (the caller's own: make
// with trigger words and a body format, copy the signing secret once, rotate, delete, and read the
// delivery log).

import { useEffect, useState } from 'preact/hooks';
import { request } from '../../lib/api';
import { reportError, toast } from '../../lib/client';
import type {
  CreateCommandRequest,
  CustomCommandList,
  CustomCommandWithSecretDto,
  DeliveryList,
  OutgoingWebhookDto,
  OutgoingWebhookList,
  OutgoingWebhookWithSecret,
  WebhookList,
  WebhookWithUrl,
} from '../../gen/wire';
import { formatFull } from '../../lib/util';
import { t } from '../../i18n';
import { Spinner, useStore } from '../common';

export const integrationsApi = {
  incoming: () => request<WebhookList>('GET', '/webhooks'),
  createIncoming: (channel: string, name: string) =>
    request<WebhookWithUrl>('POST', `/channels/${encodeURIComponent(channel)}/webhooks`, { name }),
  rotateIncoming: (id: string) => request<WebhookWithUrl>('POST', `/webhooks/${encodeURIComponent(id)}/rotate`),
  deleteIncoming: (id: string) => request<void>('DELETE', `/webhooks/${encodeURIComponent(id)}`),
  outgoing: () => request<OutgoingWebhookList>('GET', '/webhooks/outgoing'),
  createOutgoing: (body: { channel_id: string; name: string; url: string; trigger_words: string[]; content_type: 'form' | 'json' }) =>
    request<OutgoingWebhookWithSecret>('POST', '/webhooks/outgoing', body),
  rotateOutgoing: (id: string) => request<OutgoingWebhookWithSecret>('POST', `/webhooks/outgoing/${encodeURIComponent(id)}/rotate`),
  deleteOutgoing: (id: string) => request<void>('DELETE', `/webhooks/outgoing/${encodeURIComponent(id)}`),
  deliveries: (id: string) => request<DeliveryList>('GET', `/webhooks/outgoing/${encodeURIComponent(id)}/deliveries`),
  commands: () => request<CustomCommandList>('GET', '/commands/custom'),
  createCommand: (body: CreateCommandRequest) => request<CustomCommandWithSecretDto>('POST', '/commands/custom', body),
  rotateCommand: (id: string) => request<CustomCommandWithSecretDto>('POST', `/commands/custom/${encodeURIComponent(id)}/rotate`),
  deleteCommand: (id: string) => request<void>('DELETE', `/commands/custom/${encodeURIComponent(id)}`),
};

/** Splits the trigger-word field (spaces or commas, full-width ones too). */
export function triggerWords(s: string): string[] {
  return s
    .split(/[\s,，、]+/u)
    .map((w) => w.trim())
    .filter((w) => w.length > 0);
}

function copy(value: string) {
  void navigator.clipboard?.writeText(value).then(
    () => toast(t('creds.copied'), 'info'),
    () => undefined,
  );
}

/** A secret shown once, with a copy button. */
function Once({ label, value }: { label: string; value: string }) {
  return (
    <div class="secret-once" role="status">
      <p class="small">{label}</p>
      <code class="secret-value" data-testid="secret">
        {value}
      </code>
      <button type="button" class="btn btn-sm" onClick={() => copy(value)}>
        {t('creds.copy')}
      </button>
    </div>
  );
}

function useChannels() {
  const channels = useStore((s) => s.channels);
  return Object.values(channels ?? {})
    .filter((c) => (c.kind === 'public' || c.kind === 'private') && c.name)
    .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
}

function channelName(channels: ReturnType<typeof useChannels>, id: string): string {
  const c = channels.find((x) => x.id === id);
  return c?.name ? `#${c.name}` : id;
}

function Incoming() {
  const channels = useChannels();
  const [list, setList] = useState<WebhookList | null>(null);
  const [channel, setChannel] = useState('');
  const [name, setName] = useState('');
  const [shown, setShown] = useState<string | null>(null);
  const load = () => integrationsApi.incoming().then(setList, reportError);
  useEffect(() => void load(), []);
  const url = (made: WebhookWithUrl) => `${location.origin}${made.path}`;
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const made = await integrationsApi.createIncoming(channel || channels[0]?.id || '', name);
      setShown(url(made));
      setName('');
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  const rotate = async (id: string) => {
    try {
      setShown(url(await integrationsApi.rotateIncoming(id)));
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  const remove = async (id: string) => {
    if (!confirm(t('integrations.confirmDelete'))) return;
    try {
      await integrationsApi.deleteIncoming(id);
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  return (
    <div class="admin-section integrations-incoming">
      <h3>{t('integrations.incoming')}</h3>
      <p class="muted small">{t('integrations.incomingHint')}</p>
      <form class="admin-toolbar" onSubmit={create}>
        <select aria-label={t('integrations.channel')} value={channel} onChange={(e) => setChannel((e.target as HTMLSelectElement).value)}>
          {channels.map((c) => (
            <option value={c.id} key={c.id}>
              #{c.name}
            </option>
          ))}
        </select>
        <input
          aria-label={t('integrations.name')}
          placeholder={t('integrations.name')}
          value={name}
          maxLength={64}
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
        />
        <button class="btn btn-primary" type="submit" disabled={!name.trim() || channels.length === 0}>
          {t('integrations.create')}
        </button>
      </form>
      {shown && <Once label={t('integrations.urlOnce')} value={shown} />}
      {!list ? (
        <Spinner />
      ) : list.webhooks.length === 0 ? (
        <p class="muted">{t('integrations.none')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>{t('integrations.name')}</th>
                <th>{t('integrations.channel')}</th>
                <th>{t('integrations.created')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.webhooks.map((w) => (
                <tr key={w.id}>
                  <td>{w.name}</td>
                  <td>{channelName(channels, w.channel_id)}</td>
                  <td>{formatFull(w.created_at)}</td>
                  <td class="actions">
                    <button class="btn btn-sm" onClick={() => void rotate(w.id)}>
                      {t('integrations.rotate')}
                    </button>
                    <button class="btn btn-sm btn-danger" onClick={() => void remove(w.id)}>
                      {t('integrations.delete')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Deliveries({ hook }: { hook: OutgoingWebhookDto }) {
  const [log, setLog] = useState<DeliveryList | null>(null);
  const load = () => integrationsApi.deliveries(hook.id).then(setLog, reportError);
  useEffect(() => void load(), [hook.id]);
  if (!log) return <Spinner />;
  return (
    <div class="deliveries" data-testid="deliveries">
      <div class="admin-toolbar">
        <strong>
          {t('integrations.log')}: {hook.name}
        </strong>
        <button class="btn btn-sm" onClick={() => void load()}>
          {t('backups.refresh')}
        </button>
      </div>
      {log.deliveries.length === 0 ? (
        <p class="muted">{t('integrations.noDeliveries')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>{t('integrations.time')}</th>
                <th>{t('integrations.status')}</th>
                <th>{t('integrations.attempts')}</th>
                <th>HTTP</th>
                <th>{t('integrations.error')}</th>
              </tr>
            </thead>
            <tbody>
              {log.deliveries.map((d) => (
                <tr key={d.id} class={`delivery-${d.status}`}>
                  <td>{formatFull(d.updated_at)}</td>
                  <td>{t(`integrations.status.${d.status}`)}</td>
                  <td>{d.attempts}</td>
                  <td>{d.http_status ?? '—'}</td>
                  <td class="small">{d.error ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Outgoing() {
  const channels = useChannels();
  const [list, setList] = useState<OutgoingWebhookList | null>(null);
  const [channel, setChannel] = useState('');
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [words, setWords] = useState('');
  const [format, setFormat] = useState<'form' | 'json'>('form');
  const [shown, setShown] = useState<OutgoingWebhookWithSecret | null>(null);
  const [open, setOpen] = useState<OutgoingWebhookDto | null>(null);
  const load = () => integrationsApi.outgoing().then(setList, reportError);
  useEffect(() => void load(), []);
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const made = await integrationsApi.createOutgoing({
        channel_id: channel || channels[0]?.id || '',
        name,
        url,
        trigger_words: triggerWords(words),
        content_type: format,
      });
      setShown(made);
      setName('');
      setUrl('');
      setWords('');
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  const rotate = async (id: string) => {
    try {
      setShown(await integrationsApi.rotateOutgoing(id));
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  const remove = async (id: string) => {
    if (!confirm(t('integrations.confirmDelete'))) return;
    try {
      await integrationsApi.deleteOutgoing(id);
      if (open?.id === id) setOpen(null);
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  return (
    <div class="admin-section integrations-outgoing">
      <h3>{t('integrations.outgoing')}</h3>
      <p class="muted small">{t('integrations.outgoingHint')}</p>
      <form class="admin-toolbar" onSubmit={create}>
        <select aria-label={t('integrations.channel')} value={channel} onChange={(e) => setChannel((e.target as HTMLSelectElement).value)}>
          {channels.map((c) => (
            <option value={c.id} key={c.id}>
              #{c.name}
            </option>
          ))}
        </select>
        <input
          aria-label={t('integrations.outName')}
          placeholder={t('integrations.name')}
          value={name}
          maxLength={64}
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
        />
        <input
          aria-label={t('integrations.url')}
          placeholder="https://"
          type="url"
          value={url}
          maxLength={2000}
          onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
        />
        <input
          aria-label={t('integrations.triggers')}
          placeholder={t('integrations.triggersHint')}
          value={words}
          onInput={(e) => setWords((e.target as HTMLInputElement).value)}
        />
        <select aria-label={t('integrations.format')} value={format} onChange={(e) => setFormat((e.target as HTMLSelectElement).value as 'form' | 'json')}>
          <option value="form">{t('integrations.formatForm')}</option>
          <option value="json">JSON</option>
        </select>
        <button class="btn btn-primary" type="submit" disabled={!name.trim() || !url.trim() || channels.length === 0}>
          {t('integrations.create')}
        </button>
      </form>
      {shown && <Once label={t('integrations.secretOnce')} value={shown.signing_secret} />}
      {!list ? (
        <Spinner />
      ) : list.webhooks.length === 0 ? (
        <p class="muted">{t('integrations.none')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>{t('integrations.name')}</th>
                <th>{t('integrations.channel')}</th>
                <th>{t('integrations.url')}</th>
                <th>{t('integrations.triggers')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.webhooks.map((w) => (
                <tr key={w.id}>
                  <td>{w.name}</td>
                  <td>{channelName(channels, w.channel_id)}</td>
                  <td class="small">
                    <code>{w.url}</code>{' '}
                    <button class="btn btn-sm" onClick={() => copy(w.url)}>
                      {t('creds.copy')}
                    </button>
                  </td>
                  <td>{w.trigger_words.length ? w.trigger_words.join(' ') : t('integrations.everyMessage')}</td>
                  <td class="actions">
                    <button class="btn btn-sm" onClick={() => setOpen(w)}>
                      {t('integrations.log')}
                    </button>
                    <button class="btn btn-sm" onClick={() => void rotate(w.id)}>
                      {t('integrations.rotate')}
                    </button>
                    <button class="btn btn-sm btn-danger" onClick={() => void remove(w.id)}>
                      {t('integrations.delete')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {open && <Deliveries hook={open} key={open.id} />}
    </div>
  );
}

/** Custom slash commands (site-wide triggers): make, copy the token and secret once, rotate, delete. */
function Commands() {
  const [list, setList] = useState<CustomCommandList | null>(null);
  const [trigger, setTrigger] = useState('');
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [hint, setHint] = useState('');
  const [shown, setShown] = useState<CustomCommandWithSecretDto | null>(null);
  const load = () => integrationsApi.commands().then(setList, reportError);
  useEffect(() => void load(), []);
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const made = await integrationsApi.createCommand({ trigger, url, description, usage_hint: hint });
      setShown(made);
      toast(t('integrations.commandCreated', { trigger: made.command.trigger }), 'info');
      setTrigger('');
      setUrl('');
      setDescription('');
      setHint('');
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  const rotate = async (id: string) => {
    try {
      setShown(await integrationsApi.rotateCommand(id));
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  const remove = async (id: string) => {
    if (!confirm(t('integrations.confirmDelete'))) return;
    try {
      await integrationsApi.deleteCommand(id);
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  return (
    <div class="admin-section integrations-commands">
      <h3>{t('integrations.commands')}</h3>
      <p class="muted small">{t('integrations.commandsHint')}</p>
      <form class="admin-toolbar" onSubmit={create}>
        <input
          aria-label={t('integrations.trigger')}
          placeholder="/weather"
          value={trigger}
          maxLength={33}
          onInput={(e) => setTrigger((e.target as HTMLInputElement).value)}
        />
        <input
          aria-label={t('integrations.url')}
          placeholder="https://"
          type="url"
          value={url}
          maxLength={2000}
          onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
        />
        <input
          aria-label={t('integrations.description')}
          placeholder={t('integrations.description')}
          value={description}
          maxLength={120}
          onInput={(e) => setDescription((e.target as HTMLInputElement).value)}
        />
        <input
          aria-label={t('integrations.usageHint')}
          placeholder={t('integrations.usageHint')}
          value={hint}
          maxLength={60}
          onInput={(e) => setHint((e.target as HTMLInputElement).value)}
        />
        <button class="btn btn-primary" type="submit" disabled={!trigger.trim() || !url.trim()}>
          {t('integrations.create')}
        </button>
      </form>
      {shown && (
        <>
          <Once label={t('integrations.secretOnce')} value={shown.signing_secret} />
          <Once label={t('integrations.tokenOnce')} value={shown.token} />
        </>
      )}
      {!list ? (
        <Spinner />
      ) : list.commands.length === 0 ? (
        <p class="muted">{t('integrations.noCommands')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>{t('integrations.trigger')}</th>
                <th>{t('integrations.url')}</th>
                <th>{t('integrations.description')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.commands.map((c) => (
                <tr key={c.id}>
                  <td>
                    <code>
                      /{c.trigger}
                      {c.usage_hint ? ' ' + c.usage_hint : ''}
                    </code>
                  </td>
                  <td class="small">
                    <code>{c.url}</code>
                  </td>
                  <td>{c.description}</td>
                  <td class="actions">
                    <button class="btn btn-sm" onClick={() => void rotate(c.id)}>
                      {t('integrations.rotate')}
                    </button>
                    <button class="btn btn-sm btn-danger" onClick={() => void remove(c.id)}>
                      {t('integrations.delete')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export function IntegrationsTab() {
  return (
    <div class="integrations">
      <Incoming />
      <Outgoing />
      <Commands />
    </div>
  );
}
