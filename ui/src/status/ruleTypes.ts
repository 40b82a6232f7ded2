import type { LabelSet } from '../format';

/** An active alert of an alerting rule. */
export interface Alert {
  labels: LabelSet;
  annotations: LabelSet;
  state: 'firing' | 'pending' | 'inactive';
  activeAt?: string;
  keepFiringSince?: string;
  value: string;
}

interface RuleCommon {
  name: string;
  query: string;
  labels?: LabelSet;
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  evaluationTime?: number;
  lastEvaluation?: string;
}

/** An alerting rule as /api/v1/rules returns it. */
export interface AlertingRule extends RuleCommon {
  type: 'alerting';
  state: 'firing' | 'pending' | 'inactive';
  duration?: number;
  keepFiringFor?: number;
  annotations?: LabelSet;
  alerts?: Alert[];
}

/** A recording rule as /api/v1/rules returns it. */
export interface RecordingRule extends RuleCommon {
  type: 'recording';
}

/** Either kind of rule. */
export type Rule = AlertingRule | RecordingRule;

/** A rule group. */
export interface RuleGroup {
  name: string;
  file: string;
  rules: Rule[];
  interval?: number;
  limit?: number;
  evaluationTime?: number;
  lastEvaluation?: string;
}

/** The `data` of /api/v1/rules. */
export interface RulesData {
  groups?: RuleGroup[];
}
