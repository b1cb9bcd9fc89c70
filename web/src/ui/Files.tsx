// Files in the web client: uploads from the composer (button, drag and drop, paste) with
// progress, attachments under messages (image thumbnails, file cards with text previews),
// and a lightbox for full-size images. The server sniffs every file's type and serves only
// images and plain text inline; this module never renders file content as HTML.

import { useEffect, useState } from 'preact/hooks';
import type { ApiErrorBody, ErrorCode, FileInfo } from '../lib/types';
import { t } from '../i18n';
import { thumbBox } from '../lib/util';
import { X } from './icons';

const BASE = '/api/v1/files';

/** Most files attached to one message (the server's limit). */
export const MAX_FILES = 10;

export function fileUrl(id: string, download = false): string {
  return `${BASE}/${encodeURIComponent(id)}${download ? '?download=true' : ''}`;
}

export function thumbUrl(id: string): string {
  return `${BASE}/${encodeURIComponent(id)}/thumbnail`;
}

/** `1.2 MB`-style sizes (decimal units, as file managers show them). */
export function formatSize(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** An upload in the composer: in progress, done (with its file), or failed. */
export interface Upload {
  key: number;
  name: string;
  size: number;
  /** 0..1 */
  progress: number;
  file?: FileInfo;
  error?: string;
  abort?: () => void;
}

let nextKey = 1;

/** Uploads one file with XMLHttpRequest (for upload progress); the session cookie authenticates. */
export function uploadFile(
  file: Blob & { name?: string },
  onProgress: (fraction: number) => void,
): { promise: Promise<FileInfo>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<FileInfo>((resolve, reject) => {
    xhr.open('POST', `${BASE}?name=${encodeURIComponent(file.name || 'file')}`);
    xhr.withCredentials = true;
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 201) return resolve(body as FileInfo);
      const code = (body as Partial<ApiErrorBody> | null)?.error?.code;
      reject(new Error(uploadError(code, xhr.status)));
    };
    xhr.onerror = () => reject(new Error(t('error.network')));
    xhr.onabort = () => reject(new Error(t('files.cancelled')));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}

function uploadError(code: ErrorCode | undefined, status: number): string {
  switch (code) {
    case 'file_too_large':
      return t('error.file_too_large');
    case 'quota_exceeded':
      return t('error.quota_exceeded');
    case 'image_too_large':
      return t('error.image_too_large');
    default:
      return status >= 500 ? t('error.internal') : t('error.generic');
  }
}

/** The composer's uploads: add files, track progress, take the finished ids. */
export function useUploads() {
  const [uploads, setUploads] = useState<Upload[]>([]);
  const update = (key: number, patch: Partial<Upload>) =>
    setUploads((list) => list.map((u) => (u.key === key ? { ...u, ...patch } : u)));
  const add = (files: Iterable<File>) => {
    const list = [...files];
    setUploads((cur) => {
      const room = Math.max(0, MAX_FILES - cur.length);
      const accepted = list.slice(0, room).map((f): Upload => {
        const key = nextKey++;
        const { promise, abort } = uploadFile(f, (p) => update(key, { progress: p }));
        promise.then(
          (file) => update(key, { file, progress: 1, abort: undefined }),
          (e: Error) => update(key, { error: e.message, abort: undefined }),
        );
        return { key, name: f.name || 'file', size: f.size, progress: 0, abort };
      });
      return [...cur, ...accepted];
    });
  };
  const remove = (key: number) =>
    setUploads((list) => {
      list.find((u) => u.key === key)?.abort?.();
      return list.filter((u) => u.key !== key);
    });
  const clear = () => setUploads([]);
  const busy = uploads.some((u) => !u.file && !u.error);
  const ready = uploads.filter((u) => u.file).map((u) => u.file!.id);
  return { uploads, add, remove, clear, busy, ready };
}

/** The uploads waiting in the composer. */
export function UploadTray({ uploads, onRemove }: { uploads: Upload[]; onRemove: (key: number) => void }) {
  if (!uploads.length) return null;
  return (
    <ul class="upload-tray" aria-label={t('files.uploads')}>
      {uploads.map((u) => (
        <li key={u.key} class={u.error ? 'upload failed' : 'upload'}>
          <span class="upload-name" title={u.name}>
            {u.name}
          </span>
          <span class="upload-size muted">{formatSize(u.size)}</span>
          {u.error ? (
            <span class="upload-error" role="alert">
              {u.error}
            </span>
          ) : !u.file ? (
            <progress max={1} value={u.progress} aria-label={t('files.uploading', { name: u.name })} />
          ) : null}
          <button class="icon-btn" onClick={() => onRemove(u.key)} aria-label={t('files.remove', { name: u.name })} title={t('files.remove', { name: u.name })}>
            <X size={14} />
          </button>
        </li>
      ))}
    </ul>
  );
}

/** A message's attachments: thumbnails for images (click for the lightbox), cards for the rest. */
export function Attachments({ files }: { files: FileInfo[] | undefined }) {
  const [open, setOpen] = useState<FileInfo | null>(null);
  if (!files || files.length === 0) return null;
  return (
    <div class="attachments">
      {files.map((f) =>
        f.thumbnail ? (
          <button
            key={f.id}
            class="attachment-image"
            onClick={() => setOpen(f)}
            aria-label={t('files.open', { name: f.name })}
            title={f.name}
          >
            <img
              src={thumbUrl(f.id)}
              width={f.thumbnail.width}
              height={f.thumbnail.height}
              style={{ width: `${thumbBox(f.thumbnail.width, f.thumbnail.height).width}px` }}
              alt={f.name}
              loading="lazy"
            />
          </button>
        ) : (
          <div key={f.id} class="attachment-file">
            <a href={fileUrl(f.id, true)} download={f.name} class="attachment-name">
              {f.name}
            </a>
            <span class="muted">
              {' '}
              {formatSize(f.size)}
            </span>
            {f.preview && <pre class="attachment-preview">{f.preview}</pre>}
          </div>
        ),
      )}
      {open && <Lightbox file={open} onClose={() => setOpen(null)} />}
    </div>
  );
}

/** A full-size image over the page; Escape or a click outside closes it. */
export function Lightbox({ file, onClose }: { file: FileInfo; onClose: () => void }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div
      class="lightbox"
      role="dialog"
      aria-modal="true"
      aria-label={file.name}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <img src={fileUrl(file.id)} alt={file.name} />
      <div class="lightbox-bar">
        <span>{file.name}</span>
        <a href={fileUrl(file.id, true)} download={file.name}>
          {t('files.download')}
        </a>
        <button class="icon-btn" onClick={onClose} aria-label={t('common.close')} title={t('common.close')} autofocus>
          <X />
        </button>
      </div>
    </div>
  );
}

/** Files from a drop or paste event. */
export function filesFrom(data: DataTransfer | null): File[] {
  if (!data) return [];
  return [...data.files];
}
