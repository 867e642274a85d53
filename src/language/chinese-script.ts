import OpenCC from 'opencc-js';

/** Which Chinese script a text is written in; `unknown` when no character tells them apart. */
export type ChineseScript = 'simplified' | 'traditional' | 'unknown';

// Mainland ↔ Taiwan standard converters, used one character at a time: a character counts as evidence by itself,
// so `软件` and `軟體` both count two characters, whatever the vocabulary.
const simplifiedToTraditional = OpenCC.Converter({ from: 'cn', to: 'tw' });
const traditionalToSimplified = OpenCC.Converter({ from: 'tw', to: 'cn' });

const hanCharacters = /\p{Script=Han}/gu;

type CharacterEvidence = 'simplified' | 'traditional' | 'none';

// The Han repertoire in real use is a few thousand characters, so each is classified once.
const evidenceByCharacter = new Map<string, CharacterEvidence>();

// Classifies new characters in one converter call each way: characters are separated by newlines so that no
// phrase rule can span two of them.
function classifyNewCharacters(characters: readonly string[]): void {
  const fresh = characters.filter((character) => !evidenceByCharacter.has(character));
  if (fresh.length === 0) return;
  const asTraditional = simplifiedToTraditional(fresh.join('\n')).split('\n');
  const asSimplified = traditionalToSimplified(fresh.join('\n')).split('\n');
  fresh.forEach((character, index) => {
    const traditional = asTraditional[index] ?? character;
    const simplified = asSimplified[index] ?? character;
    let evidence: CharacterEvidence = 'none';
    if (traditional !== character && simplified === character) evidence = 'simplified';
    else if (simplified !== character && traditional === character) evidence = 'traditional';
    evidenceByCharacter.set(character, evidence);
  });
}

/**
 * Tells Simplified from Traditional Chinese by counting characters that exist in only one script: a character that
 * changes when converted to Traditional but not when converted to Simplified is Simplified-only (`这`, `图`), and the
 * reverse is Traditional-only (`這`, `圖`). Characters shared by both scripts (`你`, `好`, `人`) are no evidence.
 * The majority wins; a tie (including no evidence at all) is `unknown`.
 */
export function detectChineseScript(text: string): ChineseScript {
  const characters = text.match(hanCharacters) ?? [];
  classifyNewCharacters([...new Set(characters)]);
  let simplifiedOnly = 0;
  let traditionalOnly = 0;
  for (const character of characters) {
    const evidence = evidenceByCharacter.get(character);
    if (evidence === 'simplified') simplifiedOnly += 1;
    else if (evidence === 'traditional') traditionalOnly += 1;
  }
  if (simplifiedOnly > traditionalOnly) return 'simplified';
  if (traditionalOnly > simplifiedOnly) return 'traditional';
  return 'unknown';
}
