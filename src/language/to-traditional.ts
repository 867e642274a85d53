import OpenCC from 'opencc-js';

// `cn → twp` (OpenCC's s2twp): Taiwan characters *and* Taiwan vocabulary (软件 → 軟體, 鼠标 → 滑鼠, 信息 → 資訊).
// The model writes Mainland Simplified; a reader who wrote in Traditional Chinese expects Taiwan usage, and a
// character-only conversion (`tw`) would leave Mainland words in Traditional characters (軟件, 鼠標), which read as
// foreign. HK readers also read Taiwan-style text without trouble, while the reverse is less true.
const simplifiedToTaiwan = OpenCC.Converter({ from: 'cn', to: 'twp' });

/** Converts the model's Simplified Chinese to Traditional Chinese as written in Taiwan (OpenCC s2twp). */
export function toTraditional(text: string): string {
  return simplifiedToTaiwan(text);
}
