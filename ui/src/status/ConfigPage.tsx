import { useState } from 'react';
import { RequestStatus } from '../components/RequestStatus';
import { useT } from '../i18n';
import { useApi } from '../useApi';
import { YamlText } from './yamlHighlight';

/** Copies text, falling back to a hidden textarea where the Clipboard API is unavailable (plain HTTP). */
async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

/** Status -> Configuration: the loaded YAML with a copy button. */
export function ConfigPage() {
  const t = useT();
  const state = useApi<{ yaml: string }>('status/config');
  const [copied, setCopied] = useState(false);
  return (
    <div className="page">
      <div className="page-head">
        <h1 className="page-title" data-testid="page-title">
          {t('config.title')}
        </h1>
        <button
          type="button"
          className="btn"
          data-testid="config-copy"
          disabled={!state.result}
          onClick={() => {
            if (!state.result) return;
            void copyText(state.result.data.yaml).then(() => {
              setCopied(true);
              window.setTimeout(() => setCopied(false), 2000);
            });
          }}
        >
          {copied ? `✓ ${t('common.copied')}` : t('common.copy')}
        </button>
      </div>
      <RequestStatus state={state}>
        {(d) => (
          <pre className="card code-block config-yaml" data-testid="config-yaml">
            <YamlText text={d.yaml} />
          </pre>
        )}
      </RequestStatus>
    </div>
  );
}
