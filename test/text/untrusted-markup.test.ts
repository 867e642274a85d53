import { describe, expect, it } from 'vitest';
import { defuseDisguisedLinks, messageCreateBody, messageEditBody } from '../../adapters/discord/encode.ts';
import { answerCard, cardMarkdown, inlineCardContent, textContent } from '../../adapters/lark/encode.ts';

// Issue 18, finding 7: model output is untrusted; it is posted as text, never as markup that pings or disguises.
describe('Lark card markdown and text content of untrusted answers', () => {
  it('escapes every card tag outside code: <at id=all>, <font>, <link>, <text_tag>', () => {
    const hostile =
      'Hi <at id=all></at> and <at user_id="ou_1">x</at>, <font color=\'red\'>urgent</font> <link url="https://evil.example">ok</link> <text_tag color=red>!</text_tag>';
    const markdown = cardMarkdown(hostile);
    expect(markdown).not.toContain('<');
    expect(markdown).toContain('&#60;at id=all>&#60;/at>');
    expect(markdown).toContain("&#60;font color='red'>urgent&#60;/font>");
  });

  it('shows the address of a link whose text disagrees with it, and keeps one whose text is its address', () => {
    expect(cardMarkdown('[点击登录](https://evil.example/login)')).toBe('点击登录 (https://evil.example/login)');
    expect(cardMarkdown('see [https://example.com/a](https://example.com/a/)')).toBe(
      'see [https://example.com/a](https://example.com/a/)',
    );
    expect(cardMarkdown('![logo](img_v2_secret)')).toBe('logo (img_v2_secret)');
    expect(cardMarkdown('[[x](https://evil.example)](https://example.com)')).toBe(
      'x (https://evil.example) (https://example.com)',
    );
  });

  it('keeps ordinary formatting, and code as written except a broken <at', () => {
    const lines = [
      '**Bold**, *italic*, `a < b`, and a list:',
      '- one',
      '1. two',
      '> quoted',
      '```ts',
      'const x: Array<string> = [];',
      'const link = "[a](https://b)";',
      '<at id=all></at>',
      '```',
      'after 1 < 2',
    ];
    // Only the <at tag in the code block is broken, and the < in the prose escaped.
    const expected = [...lines.slice(0, 7), '<\u200bat id=all><\u200b/at>', '```', 'after 1 &#60; 2'];
    expect(cardMarkdown(lines.join('\n'))).toBe(expected.join('\n'));
  });

  it('puts the escaped markdown into cards and no <at> tag into text content', () => {
    const hostile = '<at id=all></at> [点击登录](https://evil.example/login)';
    expect(JSON.stringify(answerCard(hostile, true))).not.toContain('<at');
    expect(inlineCardContent(hostile)).not.toContain('<at');
    const text = JSON.parse(textContent(`${hostile} < AT user_id="all">`)) as { text: string };
    expect(text.text).not.toMatch(/<\s*\/?\s*at\b/i);
    expect(text.text).toContain('点击登录 (https://evil.example/login)');
  });
});

describe('Discord message bodies of untrusted answers', () => {
  it('shows a masked link whose text is a URL but points elsewhere as plain text', () => {
    expect(defuseDisguisedLinks('[https://discord.com/nitro](https://evil.example/claim)')).toBe(
      'https://discord.com/nitro (https://evil.example/claim)',
    );
    expect(defuseDisguisedLinks('[**discord.com/nitro**](<https://evil.example>)')).toBe(
      '**discord.com/nitro** (https://evil.example)',
    );
    expect(defuseDisguisedLinks('[Free nitro at discord.com](https://evil.example)')).toBe(
      'Free nitro at discord.com (https://evil.example)',
    );
    expect(defuseDisguisedLinks('[docs [https://discord.com]](https://evil.example)')).toBe(
      'docs [https://discord.com] (https://evil.example)',
    );
  });

  it('keeps honest masked links, plain links and code', () => {
    for (const kept of [
      '[the docs](https://discord.com/developers/docs)',
      '[https://discord.com/nitro](https://discord.com/nitro)',
      'see https://example.com and `[https://a.example](https://b.example)`',
      '```md\n[https://a.example](https://b.example)\n```',
      '- item\n- **bold** _it_',
    ]) {
      expect(defuseDisguisedLinks(kept)).toBe(kept);
    }
  });

  it('applies to the created and the edited message', () => {
    const hostile = 'Claim: [https://discord.com/nitro](https://evil.example/x)';
    expect(messageCreateBody(hostile, 'r1', 0)['content']).toBe(
      'Claim: https://discord.com/nitro (https://evil.example/x)',
    );
    expect(messageEditBody(hostile)['content']).toBe('Claim: https://discord.com/nitro (https://evil.example/x)');
  });
});
