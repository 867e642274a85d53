/** What the generated text looks like after stop strings are taken into account. */
export interface StopSequenceResult {
  /** Text safe to show: cut before a stop string, without an unfinished character or a possible stop-string start. */
  visibleText: string;
  /** True when a stop string occurred (the text was cut before it). */
  stopped: boolean;
}

const replacementCharacter = '\uFFFD';

/**
 * Finds stop strings in the growing text of a reply. The end of the text is held back while it could still become
 * a stop string (`"<hu"` before `"<human>:"`) or while it ends in half a character (U+FFFD from a split UTF-8
 * sequence), so streamed text never has to be taken back.
 */
export class StopSequenceFilter {
  private readonly stopStrings: readonly string[];

  constructor(stopStrings: readonly string[]) {
    this.stopStrings = stopStrings.filter((stop) => stop.length > 0);
  }

  /** Looks at the whole text generated so far. `final` says no more tokens follow: a possible stop-string start is
   * shown then, a trailing half character is still dropped. */
  inspect(text: string, final = false): StopSequenceResult {
    let cut = -1;
    for (const stop of this.stopStrings) {
      const index = text.indexOf(stop);
      if (index !== -1 && (cut === -1 || index < cut)) cut = index;
    }
    if (cut !== -1) return { visibleText: text.slice(0, cut), stopped: true };
    let end = text.length;
    while (end > 0 && text[end - 1] === replacementCharacter) end--;
    if (!final) end -= this.heldBackLength(text.slice(0, end));
    return { visibleText: text.slice(0, end), stopped: false };
  }

  /** Length of the longest end of `text` that is a proper beginning of a stop string. */
  private heldBackLength(text: string): number {
    let longest = 0;
    for (const stop of this.stopStrings) {
      for (let length = Math.min(stop.length - 1, text.length); length > longest; length--) {
        if (text.endsWith(stop.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
