/** Where in the expression a parse error points, and that line of the expression. */
export interface ErrorPosition {
  line: number;
  column: number;
  text: string;
}

/**
 * Finds the `line:column` a PromQL parse error names (`1:19: parse error: ...`) and returns that
 * line of `expr`, so the UI can point at the spot; null when the message names no position in it.
 */
export function parseErrorPosition(message: string, expr: string): ErrorPosition | null {
  const m = /(\d+):(\d+): parse error/.exec(message);
  if (!m) return null;
  const line = Number(m[1]);
  const column = Number(m[2]);
  const text = expr.split('\n')[line - 1];
  if (text === undefined || column < 1 || column > text.length + 1) return null;
  return { line, column, text };
}
