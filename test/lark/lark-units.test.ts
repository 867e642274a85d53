import { Domain } from '@larksuiteoapi/node-sdk';
import { describe, expect, it } from 'vitest';
import { decodeMessageEvent } from '../../adapters/lark/decode.ts';
import { replyUuid, splitAnswer } from '../../adapters/lark/encode.ts';
import { larkDefaults, resolveLarkDomain, validateLarkSettings } from '../../adapters/lark/lark-config.ts';
import { ConfigError } from '../../src/config/config-error.ts';
import { messageEvent } from '../support/fake-lark/lark-events.ts';
import { botMention, botOpenId, user } from './lark-harness.ts';

const flatten = (event: ReturnType<typeof messageEvent>) => ({ ...event.header, ...event.event });

describe('Lark decode', () => {
  it('strips the bot mention, names other mentions and keeps @_all from counting as the bot', () => {
    const decoded = decodeMessageEvent(
      flatten(
        messageEvent({
          chatId: 'oc_1',
          chatType: 'group',
          sender: user('a'),
          messageType: 'text',
          content: { text: '@_user_1 ask @_user_2 and @_all' },
          mentions: [botMention(), { key: '@_user_2', id: { open_id: 'ou_b' }, name: 'Bob' }],
        }),
      ),
      botOpenId,
    );
    expect(decoded?.text).toBe('ask @Bob and @all');
    expect(decoded?.mentionsBot).toBe(true);
    const all = decodeMessageEvent(
      flatten(
        messageEvent({
          chatId: 'oc_1',
          chatType: 'group',
          sender: user('a'),
          messageType: 'text',
          content: { text: '@_all hi' },
          mentions: [{ key: '@_all', id: { open_id: '' }, name: 'all' }],
        }),
      ),
      botOpenId,
    );
    expect(all?.mentionsBot).toBe(false);
  });

  it('reads posts (locale-wrapped too) with text, links, mentions and pictures; ignores files', () => {
    const decoded = decodeMessageEvent(
      flatten(
        messageEvent({
          chatId: 'oc_1',
          chatType: 'group',
          sender: user('a'),
          messageType: 'post',
          mentions: [botMention()],
          content: {
            en_us: {
              title: 'Q',
              content: [
                [
                  { tag: 'at', user_id: '@_user_1' },
                  { tag: 'text', text: ' see ' },
                  { tag: 'a', text: 'link', href: 'https://x' },
                ],
                [
                  { tag: 'img', image_key: 'img_1' },
                  { tag: 'img', image_key: 'img_2' },
                ],
              ],
            },
          },
        }),
      ),
      botOpenId,
    );
    expect(decoded).toMatchObject({
      text: 'Q\nsee link',
      imageKeys: ['img_1', 'img_2'],
      mentionsBot: true,
      chatType: 'group',
    });
    expect(
      decodeMessageEvent(
        flatten(
          messageEvent({
            chatId: 'oc_1',
            chatType: 'p2p',
            sender: user('a'),
            messageType: 'file',
            content: { file_key: 'f' },
          }),
        ),
        botOpenId,
      ),
    ).toBeUndefined();
  });
});

describe('Lark encode and config', () => {
  it('splits long answers at word ends and keeps code fences closed in every part', () => {
    const text = `intro words here\n\`\`\`ts\n${'const value = 1;\n'.repeat(12)}\`\`\`\nthe end`;
    const parts = splitAnswer(text, 80);
    expect(parts.length).toBeGreaterThan(2);
    for (const part of parts) {
      expect([...part].length).toBeLessThanOrEqual(80);
      expect((part.match(/^```/gm) ?? []).length % 2).toBe(0);
    }
    expect(splitAnswer('short', 80)).toEqual(['short']);
  });

  it("derives deterministic reply uuids within Lark's 50 characters", () => {
    expect(replyUuid('lark-om_1', 'text-0')).toBe(replyUuid('lark-om_1', 'text-0'));
    expect(replyUuid('lark-om_1', 'text-0')).not.toBe(replyUuid('lark-om_1', 'text-1'));
    expect(replyUuid('lark-om_1', 'text-0').length).toBeLessThanOrEqual(50);
  });

  it('maps LARK_DOMAIN to the SDK domain and the default locale', () => {
    expect(resolveLarkDomain('feishu')).toEqual({ sdkDomain: Domain.Feishu, languageHint: 'zh-CN' });
    expect(resolveLarkDomain('lark')).toEqual({ sdkDomain: Domain.Lark, languageHint: 'en' });
    expect(resolveLarkDomain('http://127.0.0.1:9/')).toEqual({
      sdkDomain: 'http://127.0.0.1:9',
      languageHint: 'zh-CN',
    });
    expect(() => resolveLarkDomain('not a url')).toThrow(ConfigError);
  });

  it('refuses an app id the long connection would silently ignore, and an unauthenticated webhook', () => {
    const base = { ...larkDefaults, appId: 'cli_a1b2c3d4e5f60000', appSecret: 's' } as const;
    expect(() => validateLarkSettings({ ...base, appId: 'my-app' })).toThrow(/LARK_APP_ID/);
    expect(() => validateLarkSettings({ ...base, mode: 'webhook' })).toThrow(/LARK_ENCRYPT_KEY/);
    expect(() => validateLarkSettings({ ...base })).not.toThrow();
  });
});
