// `[label](target)` or `![alt](target)`, labels with one level of nested brackets and escapes, targets bare (with
// balanced parentheses) or in angle brackets, with an optional title.
const maskedLink =
  /(!?)\[((?:\\.|[^[\]\\\n]|\[(?:\\.|[^[\]\\\n])*\])*)\]\(\s*(<[^<>\n]*>|[^\s()<>]+(?:\([^\s()]*\)[^\s()<>]*)*)(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)/g;

/** A URL (or a bare domain, such as `discord.com/nitro`) anywhere in a link's label. */
const urlLike = /[a-z][a-z0-9+.-]*:\/\/|(?:^|[^\w@.-])(?:[a-z0-9-]+\.)+[a-z]{2,}(?:[/:?#]|\b)/i;

/** A link label or target reduced for comparison: formatting, scheme, `www.`, a trailing slash and case dropped. */
function comparable(text: string): string {
  return text
    .replace(/^<|>$/g, '')
    .replace(/[*_~|`\\]/g, '')
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/^www\./i, '')
    .replace(/\/$/, '')
    .toLowerCase();
}

/** True when a link's label reads as a URL or a domain. */
export function looksLikeUrl(label: string): boolean {
  return urlLike.test(label.replace(/[*_~|`\\]/g, ''));
}

/** True when a link's label names the same address as its target (the label is the URL). */
export function labelMatchesTarget(label: string, target: string): boolean {
  return comparable(label) !== '' && comparable(label) === comparable(target);
}

/**
 * Rewrites the Markdown links (and images) of `prose` that `keep` refuses as plain text, `label (target)`: the
 * address a reader would go to is shown, not hidden behind other words. Nested labels are rewritten too.
 */
export function rewriteMaskedLinks(prose: string, keep: (label: string, target: string) => boolean): string {
  return prose.replace(maskedLink, (link: string, bang: string, label: string, target: string) => {
    // A link inside a label is a link of its own (it wins over the outer one): checked whether the outer is kept.
    const inner = rewriteMaskedLinks(label, keep);
    if (keep(label, target)) return `${bang}[${inner}${link.slice(bang.length + 1 + label.length)}`;
    return `${inner} (${target.replace(/^<|>$/g, '')})`;
  });
}
