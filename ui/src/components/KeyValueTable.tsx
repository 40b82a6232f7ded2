/** A two-column table of names and values, for status information. */
export function KeyValueTable({ rows, bad }: { rows: Array<[string, string]>; bad?: Set<string> }) {
  return (
    <div className="table-scroll">
      <table className="data-table kv-table">
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k} className={bad?.has(k) ? 'row-down' : undefined}>
              <th scope="row">{k}</th>
              <td className="mono">{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Formats any JSON value for a status table. */
export function displayValue(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
