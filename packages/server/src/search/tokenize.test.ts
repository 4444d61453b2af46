import { describe, expect, it } from 'vitest';
import { planQuery, snippet, toFts5, tokenize, toTsquery } from './tokenize.js';

describe('tokenize', () => {
  it('splits CJK runs into bigrams and Latin into lower-case words', () => {
    expect(tokenize('我想申请退款，iPhone 15 Pro！')).toBe(
      '我想 想申 申请 请退 退款 iphone 15 pro',
    );
    expect(tokenize('好')).toBe('好');
    expect(tokenize('ＡＢＣ１２３')).toBe('abc123'); // NFKC folds full-width forms
    expect(tokenize(null)).toBe('');
    // A Latin run must not swallow the Chinese that follows it.
    expect(tokenize('我的order还没发货')).toBe('我的 order 还没 没发 发货');
  });
});

describe('planQuery', () => {
  it('makes a 2-character Chinese word one token, longer words adjacent bigrams', () => {
    expect(planQuery('退款').phrases).toEqual([['退款']]);
    expect(planQuery('申请退款').phrases).toEqual([['申请', '请退', '退款']]);
    expect(planQuery('Refund 退款').phrases).toEqual([['refund'], ['退款']]);
    expect(planQuery('好').singles).toEqual(['好']);
    expect(planQuery('!!! ...').phrases).toEqual([]);
  });
  it('renders FTS5 and tsquery syntax', () => {
    const p = planQuery('申请退款 refund');
    expect(toFts5(p)).toBe('"申请 请退 退款" AND "refund"');
    expect(toTsquery(p)).toBe('(申请 <-> 请退 <-> 退款) & refund');
  });
});

describe('snippet', () => {
  it('marks matches and escapes HTML', () => {
    expect(snippet('<b>我要退款</b>', ['退款'])).toBe('&lt;b&gt;我要<mark>退款</mark>&lt;/b&gt;');
    expect(snippet('Refund please, REFUND', ['refund'])).toBe(
      '<mark>Refund</mark> please, <mark>REFUND</mark>',
    );
    expect(snippet('nothing here', ['退款'])).toBeNull();
  });
});
