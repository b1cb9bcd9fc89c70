import { describe, expect, it } from 'vitest';
import { render } from 'preact-render-to-string';
import { Attachments, fileUrl, formatSize, thumbUrl } from '../src/ui/Files';
import type { FileInfo } from '../src/lib/types';

const base: FileInfo = {
  id: '7',
  name: 'notes <b>.txt',
  size: 1234,
  content_type: 'text/plain',
  width: null,
  height: null,
  thumbnail: null,
  preview: 'line one\n<script>alert(1)</script>',
  uploader_id: '1',
  created_at: '2026-01-01T00:00:00Z',
};

describe('files', () => {
  it('formats sizes', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(999)).toBe('999 B');
    expect(formatSize(1234)).toBe('1.2 kB');
    expect(formatSize(25_000_000)).toBe('25 MB');
  });

  it('builds file urls', () => {
    expect(fileUrl('7')).toBe('/api/v1/files/7');
    expect(fileUrl('7', true)).toBe('/api/v1/files/7?download=true');
    expect(thumbUrl('7')).toBe('/api/v1/files/7/thumbnail');
  });

  it('renders a text file as a card with an escaped preview, and an image as a thumbnail', () => {
    const html = render(<Attachments files={[base]} />);
    expect(html).toContain('href="/api/v1/files/7?download=true"');
    expect(html).toContain('notes &lt;b>.txt');
    expect(html).toContain('&lt;script>');
    expect(html).not.toContain('<script>');
    const img = render(
      <Attachments files={[{ ...base, id: '8', content_type: 'image/png', thumbnail: { width: 320, height: 200, content_type: 'image/jpeg' } }]} />,
    );
    expect(img).toContain('src="/api/v1/files/8/thumbnail"');
    expect(render(<Attachments files={[]} />)).toBe('');
  });
});

import { thumbBox } from '../src/lib/util';

describe('thumbnail boxes', () => {
  it('fit 320×240 keeping the aspect ratio, known before the image loads', () => {
    expect(thumbBox(320, 200)).toEqual({ width: 320, height: 200 });
    expect(thumbBox(640, 400)).toEqual({ width: 320, height: 200 });
    expect(thumbBox(300, 600)).toEqual({ width: 120, height: 240 });
    expect(thumbBox(100, 50)).toEqual({ width: 100, height: 50 });
    expect(thumbBox(0, 0)).toEqual({ width: 320, height: 240 });
  });
});
