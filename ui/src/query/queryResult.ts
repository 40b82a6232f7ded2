import type { LabelSet } from '../format';

/** A native histogram sample as the API writes it. */
export interface HistogramValue {
  count: string;
  sum: string;
  /** [boundary rule, lower, upper, count]; rule 0 = (a,b], 1 = [a,b), 2 = (a,b), 3 = [a,b]. */
  buckets?: Array<[number, string, string, string]>;
}

/** One sample: [unix seconds, value as text]. */
export type SamplePair = [number, string];

/** An instant vector element. */
export interface VectorSample {
  metric: LabelSet;
  value?: SamplePair;
  histogram?: [number, HistogramValue];
}

/** A range vector (matrix) series. */
export interface MatrixSeries {
  metric: LabelSet;
  values?: SamplePair[];
  histograms?: Array<[number, HistogramValue]>;
}

/** The `data` of /api/v1/query and /api/v1/query_range. */
export type QueryData =
  | { resultType: 'vector'; result: VectorSample[] }
  | { resultType: 'matrix'; result: MatrixSeries[] }
  | { resultType: 'scalar'; result: SamplePair }
  | { resultType: 'string'; result: SamplePair };

/** The number of series (or one for scalars and strings) in a result. */
export function resultSeriesCount(d: QueryData): number {
  return d.resultType === 'vector' || d.resultType === 'matrix' ? d.result.length : 1;
}

/** Formats a histogram bucket's bounds with its open/closed ends, e.g. `(0.5, 1]`. */
export function formatBucketBounds(rule: number, lower: string, upper: string): string {
  const left = rule === 1 || rule === 3 ? '[' : '(';
  const right = rule === 0 || rule === 3 ? ']' : ')';
  return `${left}${lower}, ${upper}${right}`;
}
