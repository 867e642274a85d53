/** How to rewrite the two kinds of Markdown text. */
export interface MarkdownRewrite {
  /** Rewrites text outside code. */
  prose: (text: string) => string;
  /** Rewrites code (fenced blocks with their fences, inline code spans with their backticks). @defaultValue unchanged */
  code?: (text: string) => string;
}

const fenceOpen = /^ {0,3}(`{3,}|~{3,})/;
// An inline code span: a backtick run closed by a run of the same length (CommonMark), never across a blank line.
const inlineCode = /(?<!`)(`+)(?!`)(?:(?!\n\s*\n)[\s\S])*?(?<!`)\1(?!`)/g;

function mapInline(text: string, rewrite: Required<MarkdownRewrite>): string {
  let result = '';
  let last = 0;
  for (const match of text.matchAll(inlineCode)) {
    result += rewrite.prose(text.slice(last, match.index)) + rewrite.code(match[0]);
    last = match.index + match[0].length;
  }
  return result + rewrite.prose(text.slice(last));
}

/**
 * Applies `rewrite.prose` to the prose of Markdown `text` and `rewrite.code` to its code: fenced blocks (an unclosed
 * fence runs to the end, as Markdown renders it) and inline code spans. Escaping untrusted text only where Markdown
 * would read it as markup keeps code blocks as the model wrote them.
 */
export function mapMarkdown(text: string, rewrite: MarkdownRewrite): string {
  const rules: Required<MarkdownRewrite> = { code: (code) => code, ...rewrite };
  const lines = text.split('\n');
  const out: string[] = [];
  let prose: string[] = [];
  const flushProse = () => {
    if (prose.length > 0) out.push(mapInline(prose.join('\n'), rules));
    prose = [];
  };
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index] ?? '';
    const open = fenceOpen.exec(line)?.[1];
    if (open === undefined) {
      prose.push(line);
      continue;
    }
    flushProse();
    const closing = new RegExp(`^ {0,3}${open[0] === '`' ? '`' : '~'}{${open.length},}\\s*$`);
    let end = index + 1;
    while (end < lines.length && !closing.test(lines[end] ?? '')) end += 1;
    out.push(rules.code(lines.slice(index, end + 1).join('\n')));
    index = end;
  }
  flushProse();
  return out.join('\n');
}
