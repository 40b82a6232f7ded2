import { useEffect, useRef } from 'react';
import { EditorState, Prec, Compartment } from '@codemirror/state';
import {
  EditorView,
  drawSelection,
  highlightSpecialChars,
  keymap,
  placeholder as placeholderExt,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, insertNewlineAndIndent } from '@codemirror/commands';
import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
  completionStatus,
} from '@codemirror/autocomplete';
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { lintKeymap } from '@codemirror/lint';
import { highlightSelectionMatches } from '@codemirror/search';
import { tags } from '@lezer/highlight';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';
import { serverUrl } from '../routePrefix';

/** PromQL token colours, from CSS variables so both themes apply. */
const promqlHighlight = HighlightStyle.define([
  { tag: tags.number, color: 'var(--syntax-number)' },
  { tag: tags.string, color: 'var(--syntax-string)' },
  { tag: tags.keyword, color: 'var(--syntax-keyword)', fontWeight: 'bold' },
  { tag: tags.function(tags.variableName), color: 'var(--syntax-function)' },
  { tag: tags.labelName, color: 'var(--syntax-label)' },
  { tag: tags.operator, color: 'var(--syntax-operator)' },
  { tag: tags.modifier, color: 'var(--syntax-keyword)', fontWeight: 'bold' },
  { tag: tags.operatorKeyword, color: 'var(--syntax-keyword)', fontWeight: 'bold' },
  { tag: tags.logicOperator, color: 'var(--syntax-keyword)', fontWeight: 'bold' },
  { tag: tags.comment, color: 'var(--syntax-comment)', fontStyle: 'italic' },
  { tag: tags.invalid, color: 'var(--danger)' },
]);

const editorTheme = EditorView.theme({
  '&': { fontSize: '14px', backgroundColor: 'var(--input-bg)', color: 'var(--fg)' },
  '&.cm-focused': { outline: 'none' },
  '.cm-content': { fontFamily: 'var(--mono)', padding: '6px 0', caretColor: 'var(--fg)' },
  '.cm-line': { padding: '0 8px' },
  '.cm-placeholder': { color: 'var(--muted)' },
  '.cm-tooltip': { backgroundColor: 'var(--panel-bg)', border: '1px solid var(--border)', color: 'var(--fg)' },
  '.cm-tooltip-autocomplete ul li[aria-selected]': { backgroundColor: 'var(--accent)', color: '#fff' },
  '.cm-completionDetail': { color: 'var(--muted)', marginLeft: '0.5em' },
  '.cm-completionInfo': { maxWidth: '400px' },
  '.cm-selectionBackground, &.cm-focused .cm-selectionBackground': { backgroundColor: 'var(--selection)' },
  '.cm-diagnostic-error': { borderLeft: '4px solid var(--danger)' },
});

/** The PromQL editor: highlighting, completion from the server, inline lint errors. */
export function PromqlEditor({
  value,
  onChange,
  onExecute,
  placeholder,
}: {
  value: string;
  onChange: (v: string) => void;
  onExecute: () => void;
  placeholder: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  // The latest callbacks, so the editor (created once) always calls the current ones.
  const onChangeRef = useRef(onChange);
  const onExecuteRef = useRef(onExecute);
  onChangeRef.current = onChange;
  onExecuteRef.current = onExecute;
  const placeholderSlot = useRef(new Compartment());

  useEffect(() => {
    if (!host.current) return;
    const promql = new PromQLExtension()
      .activateCompletion(true)
      .activateLinter(true)
      .setComplete({ remote: { url: serverUrl(), httpMethod: 'GET', cache: { maxAge: 5 * 60 * 1000 } } });
    const state = EditorState.create({
      doc: value,
      extensions: [
        highlightSpecialChars(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        autocompletion(),
        highlightSelectionMatches(),
        EditorView.lineWrapping,
        syntaxHighlighting(promqlHighlight),
        editorTheme,
        placeholderSlot.current.of(placeholderExt(placeholder)),
        promql.asExtension(),
        Prec.highest(
          keymap.of([
            {
              key: 'Enter',
              run: (v) => {
                // An open completion list takes Enter to accept the choice.
                if (completionStatus(v.state) === 'active') return false;
                onExecuteRef.current();
                return true;
              },
            },
            { key: 'Shift-Enter', run: insertNewlineAndIndent },
          ]),
        ),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChangeRef.current(u.state.doc.toString());
        }),
      ],
    });
    view.current = new EditorView({ state, parent: host.current });
    return () => {
      view.current?.destroy();
      view.current = null;
    };
    // The editor is created once; later value changes are pushed in by the effect below.
  }, []);

  // Text set from outside (history, metric explorer, format) replaces the document.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    view.current?.dispatch({ effects: placeholderSlot.current.reconfigure(placeholderExt(placeholder)) });
  }, [placeholder]);

  return <div className="expression-input" data-testid="expression-input" ref={host} />;
}
