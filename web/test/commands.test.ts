import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/lib/api';
import { store } from '../src/lib/client';
import { setLang } from '../src/i18n';
import { commandDescription, commandErrorText } from '../src/ui/Composer';

const spec = (name: string, usage: string, builtin = true) => ({ name, usage, description: `server text for ${name}`, builtin });

describe('slash commands in the composer', () => {
  it('tells an unknown command apart from a line the command cannot read, in both languages', () => {
    store.set({ commands: [spec('invite', '@person [@person ...]')] });
    const unknown = new ApiError(404, 'command_not_found', 'command not found');
    const usage = new ApiError(400, 'invalid_field', 'invalid text: usage: /invite @person', 'text');
    setLang('en');
    expect(commandErrorText(unknown, '/nosuch x')).toBe('/nosuch is not a command. Type /help for the list, or start with // to post the text.');
    expect(commandErrorText(usage, '/Invite')).toBe('Usage: /invite @person [@person ...]');
    setLang('zh-CN');
    expect(commandErrorText(unknown, '  /nosuch')).toBe('/nosuch 不是命令。输入 /help 查看列表；若要发送这段文字，请以 // 开头。');
    expect(commandErrorText(usage, '/invite')).toBe('用法：/invite @person [@person ...]');
    setLang('en');
  });

  it('translates the built-ins and shows custom commands as their makers wrote them', () => {
    setLang('zh-CN');
    expect(commandDescription(spec('join', '~channel'))).toBe('加入公开频道');
    expect(commandDescription(spec('weather', '[city]', false))).toBe('server text for weather');
    setLang('en');
    expect(commandDescription(spec('join', '~channel'))).toBe('Join a public channel');
  });
});
