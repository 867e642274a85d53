import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/config-error.ts';
import { chatRequestSchema } from '../../src/contracts/chat-request.ts';
import { channelKeyFor, requestIdFor } from '../../src/contracts/platform.ts';
import { repliesQueueName } from '../../src/queue/queue-names.ts';

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({}, { readDotenv: false });
    expect(config).toMatchObject({
      QUEUE_PREFIX: '{zvb}',
      WEB_PORT: 8080,
      EXECUTION_PROVIDER: 'cpu',
      LOG_LEVEL: 'info',
    });
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.MODEL_DIR).toBeUndefined();
  });

  it('names the variable to fix', () => {
    expect(() => loadConfig({ WEB_PORT: 'eighty' }, { readDotenv: false })).toThrow(ConfigError);
    expect(() => loadConfig({ WEB_PORT: 'eighty' }, { readDotenv: false })).toThrow(/WEB_PORT.*"eighty"/);
    expect(() => loadConfig({ EXECUTION_PROVIDER: 'tpu' }, { readDotenv: false })).toThrow(/EXECUTION_PROVIDER/);
    expect(() => loadConfig({ DEDUPLICATION_TTL_SECONDS: '60' }, { readDotenv: false })).toThrow(
      /DEDUPLICATION_TTL_SECONDS/,
    );
  });

  it('keeps Bull Board read-only unless ADMIN_WRITE is exactly true, and wants WEB_PUBLIC_URL as a URL', () => {
    const load = (environment: Record<string, string>) => loadConfig(environment, { readDotenv: false });
    expect(load({}).ADMIN_WRITE).toBe(false);
    expect(load({ ADMIN_WRITE: 'false' }).ADMIN_WRITE).toBe(false);
    expect(load({ ADMIN_WRITE: 'true' }).ADMIN_WRITE).toBe(true);
    expect(() => load({ ADMIN_WRITE: 'yes' })).toThrow(/ADMIN_WRITE/);
    expect(load({ WEB_PUBLIC_URL: 'https://chat.example.com' }).WEB_PUBLIC_URL).toBe('https://chat.example.com');
    expect(() => load({ WEB_PUBLIC_URL: 'chat.example.com' })).toThrow(/WEB_PUBLIC_URL/);
    expect(load({})).toMatchObject({ WEB_MAX_STREAMS: 500, WEB_MAX_STREAMS_PER_CLIENT: 20 });
  });
});

describe('contracts', () => {
  it('makes BullMQ-safe ids: platform-prefixed (never an integer string), no ":"', () => {
    expect(requestIdFor('discord', '1234567890')).toBe('discord-1234567890');
    expect(requestIdFor('lark', 'om_a:b')).toBe('lark-om_a_b');
    expect(channelKeyFor('discord', '1', '2')).toBe('discord:1:2');
    expect(repliesQueueName('lark')).toBe('replies-lark');
  });

  it('refuses a request without version 1 or with a bad id', () => {
    const request = {
      version: 1,
      id: 'web-a.1',
      platform: 'web',
      channelKey: 'web:a',
      replyTarget: { channel: 'a' },
      user: { id: 'u', name: 'U' },
      text: 'hi',
      images: [],
      receivedAt: new Date().toISOString(),
      adapterInstance: 'web-1',
    };
    expect(chatRequestSchema.safeParse(request).success).toBe(true);
    expect(chatRequestSchema.safeParse({ ...request, version: 2 }).success).toBe(false);
    expect(chatRequestSchema.safeParse({ ...request, id: 'web:a:1' }).success).toBe(false);
    expect(chatRequestSchema.safeParse({ ...request, id: '12345' }).success).toBe(false);
  });
});
