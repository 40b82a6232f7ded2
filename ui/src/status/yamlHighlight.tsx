import { memo } from 'react';

const KEY_LINE = /^(\s*(?:-\s+)?)([^\s#:'"][^:#]*?|'[^']*'|"[^"]*")(:)(\s.*|)$/;

/** One YAML line with its key (if any) and comment set apart for colouring. */
function YamlLine({ line }: { line: string }) {
  const comment = /^\s*#/.test(line);
  if (comment) return <span className="yaml-comment">{line}</span>;
  const m = KEY_LINE.exec(line);
  if (!m) return <>{line}</>;
  const [, indent = '', key = '', colon = '', rest = ''] = m;
  return (
    <>
      {indent}
      <span className="yaml-key">{key}</span>
      {colon}
      <span className="yaml-value">{rest}</span>
    </>
  );
}

/**
 * YAML with keys and comments coloured: a line-based pass, enough for the configuration the
 * server prints (one key per line), and cheap for long files.
 */
export const YamlText = memo(function YamlText({ text }: { text: string }) {
  const lines = text.split('\n');
  return (
    <>
      {lines.map((l, i) => (
        <span key={i}>
          <YamlLine line={l} />
          {i < lines.length - 1 ? '\n' : null}
        </span>
      ))}
    </>
  );
});
