import { describe, expect, it } from 'vitest';
import { StopSequenceFilter } from '../../workers/runtime/stop-sequence-filter.ts';

describe('StopSequenceFilter', () => {
  const filter = new StopSequenceFilter(['<human>:', '\n<human>']);

  it('cuts at the earliest stop string', () => {
    expect(filter.inspect('Hello\n<human>: more <human>:')).toEqual({ visibleText: 'Hello', stopped: true });
    expect(filter.inspect('ab<human>:cd')).toEqual({ visibleText: 'ab', stopped: true });
  });

  it('holds back a possible stop-string start until it is resolved', () => {
    expect(filter.inspect('Hello <hu')).toEqual({ visibleText: 'Hello ', stopped: false });
    expect(filter.inspect('Hello\n')).toEqual({ visibleText: 'Hello', stopped: false });
    expect(filter.inspect('Hello <hum!')).toEqual({ visibleText: 'Hello <hum!', stopped: false });
    // At the end nothing follows, so a stop-string start is shown.
    expect(filter.inspect('Hello <hu', true)).toEqual({ visibleText: 'Hello <hu', stopped: false });
  });

  it('holds back half characters', () => {
    expect(filter.inspect('你好\uFFFD')).toEqual({ visibleText: '你好', stopped: false });
    expect(filter.inspect('你好\uFFFD\uFFFD', true)).toEqual({ visibleText: '你好', stopped: false });
  });

  it('works as text grows token by token, across token boundaries', () => {
    const pieces = ['Sure', ', ', 'here', '\n', '<', 'hum', 'an', '>', ':', ' next'];
    const shown: string[] = [];
    let text = '';
    let result = { visibleText: '', stopped: false };
    for (const piece of pieces) {
      text += piece;
      result = filter.inspect(text);
      shown.push(result.visibleText);
      if (result.stopped) break;
    }
    expect(result).toEqual({ visibleText: 'Sure, here', stopped: true });
    for (let index = 1; index < shown.length; index++) expect(shown[index]!.startsWith(shown[index - 1]!)).toBe(true);
  });

  it('ignores empty stop strings', () => {
    expect(new StopSequenceFilter(['']).inspect('abc')).toEqual({ visibleText: 'abc', stopped: false });
  });
});
