/**
 * CSV exactly as PostgreSQL's `COPY … WITH (FORMAT csv)` writes it: a field is quoted when it is
 * empty (an unquoted empty field is NULL), contains a delimiter, quote, CR or LF, or is `\.` alone
 * in a single-column row; quotes are doubled; lines end with LF.
 */
const NEEDS_QUOTES = /[",\r\n]/;

export function csvField(value: string | null, singleColumn = false): string {
  if (value === null) return "";
  if (value === "" || NEEDS_QUOTES.test(value) || (singleColumn && value === "\\.")) {
    return `"${value.replaceAll('"', '""')}"`;
  }
  return value;
}

/** The header line COPY writes for these column names, with its line end. */
export function csvHeader(names: readonly string[]): string {
  const single = names.length === 1;
  return `${names.map((name) => csvField(name, single)).join(",")}\n`;
}

/**
 * Splits CSV text made of whole lines into rows. NULL (unquoted empty) becomes null and a quoted
 * empty field becomes "", so the distinction COPY makes survives the round trip.
 */
export function parseCsvRows(text: string): (string | null)[][] {
  const rows: (string | null)[][] = [];
  let row: (string | null)[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    let value: string | null;
    if (text.charCodeAt(i) === 34 /* " */) {
      let out = "";
      let start = ++i;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q === -1) throw new Error("unterminated quoted CSV field");
        if (text.charCodeAt(q + 1) === 34) {
          out += text.slice(start, q + 1);
          i = start = q + 2;
          continue;
        }
        out += text.slice(start, q);
        i = q + 1;
        break;
      }
      value = out;
    } else {
      let end = i;
      while (end < n) {
        const c = text.charCodeAt(end);
        if (c === 44 || c === 10) break;
        end++;
      }
      value = end === i ? null : text.slice(i, end);
      i = end;
    }
    row.push(value);
    const c = text.charCodeAt(i);
    i++;
    if (c === 10 || i > n) {
      rows.push(row);
      row = [];
    }
  }
  return rows;
}
