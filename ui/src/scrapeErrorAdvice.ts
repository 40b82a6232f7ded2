import type { TextKey } from './i18n';

/**
 * Maps a scrape error to the advice that tells a person what to check. The patterns cover the
 * words Go's and Rust's HTTP clients use for the same failures.
 */
const RULES: Array<[RegExp, TextKey]> = [
  [/connection refused|econnrefused|actively refused/i, 'advice.refused'],
  [
    /no such host|failed to lookup|dns error|name or service not known|nodename nor servname|temporary failure in name resolution|could not resolve/i,
    'advice.dns',
  ],
  [/x509|certificate|tls|ssl|handshake|unknown ca|server gave http response to https client/i, 'advice.tls'],
  [/context deadline exceeded|timed? ?out|timeout|deadline/i, 'advice.timeout'],
  [/HTTP (status )?40[13]\b|\bunauthori[sz]ed\b|\bforbidden\b/i, 'advice.unauthorized'],
  [/HTTP (status )?404\b|404 not found/i, 'advice.notFound'],
  [/body size limit|sample limit|label limit|target limit|exceeds? .*limit|limit exceeded/i, 'advice.bodyLimit'],
  [/HTTP (status )?5\d\d\b|internal server error|bad gateway|service unavailable/i, 'advice.serverError'],
  [/connection reset|broken pipe|unexpected eof|\beof\b|connection closed/i, 'advice.reset'],
  [/no route to host|network is unreachable|host is down/i, 'advice.unreachableNet'],
  [/parse|unexpected|invalid metric|expected|content.type|unsupported media/i, 'advice.parse'],
];

/** The advice key for a scrape error; a generic "curl it" hint when nothing matches. */
export function scrapeErrorAdvice(error: string): TextKey {
  for (const [re, key] of RULES) if (re.test(error)) return key;
  return 'advice.generic';
}
