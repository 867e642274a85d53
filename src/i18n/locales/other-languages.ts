import type { NoteCatalog } from './en.ts';

// The bot answers only in Chinese and English; for these languages it says, in the user's own language, that it
// answered in English. Everything else falls back to English.

/** Japanese. */
export const ja = {
  'note.answering_in_english': '中国語か英語でしか回答できないため、英語で回答しました。',
} as const satisfies NoteCatalog;

/** Korean. */
export const ko = {
  'note.answering_in_english': '중국어나 영어로만 답변할 수 있어서 영어로 답변했습니다.',
} as const satisfies NoteCatalog;

/** French. */
export const fr = {
  'note.answering_in_english': 'Je ne peux répondre qu’en chinois ou en anglais ; j’ai donc répondu en anglais.',
} as const satisfies NoteCatalog;

/** Spanish. */
export const es = {
  'note.answering_in_english': 'Solo puedo responder en chino o en inglés, así que he respondido en inglés.',
} as const satisfies NoteCatalog;

/** German. */
export const de = {
  'note.answering_in_english':
    'Ich kann nur auf Chinesisch oder Englisch antworten, deshalb habe ich auf Englisch geantwortet.',
} as const satisfies NoteCatalog;

/** Portuguese. */
export const pt = {
  'note.answering_in_english': 'Só consigo responder em chinês ou em inglês, por isso respondi em inglês.',
} as const satisfies NoteCatalog;

/** Italian. */
export const it = {
  'note.answering_in_english': 'Posso rispondere solo in cinese o in inglese, quindi ho risposto in inglese.',
} as const satisfies NoteCatalog;

/** Russian. */
export const ru = {
  'note.answering_in_english': 'Я могу отвечать только на китайском или английском, поэтому ответил на английском.',
} as const satisfies NoteCatalog;

/** Vietnamese. */
export const vi = {
  'note.answering_in_english':
    'Tôi chỉ có thể trả lời bằng tiếng Trung hoặc tiếng Anh, nên tôi đã trả lời bằng tiếng Anh.',
} as const satisfies NoteCatalog;
