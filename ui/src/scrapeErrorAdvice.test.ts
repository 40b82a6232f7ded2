import { describe, expect, it } from 'vitest';
import { scrapeErrorAdvice } from './scrapeErrorAdvice';

describe('scrapeErrorAdvice', () => {
  const cases: Array<[string, string]> = [
    ['connection refused: nothing listens on 127.0.0.1:19999', 'advice.refused'],
    ['Get "http://10.0.0.1:9100/metrics": dial tcp 10.0.0.1:9100: connect: connection refused', 'advice.refused'],
    ['context deadline exceeded after 10s', 'advice.timeout'],
    [
      'Get "http://a:9100/metrics": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
      'advice.timeout',
    ],
    ['no such host: node-1.example', 'advice.dns'],
    ['dial tcp: lookup node-1.example on 127.0.0.53:53: no such host', 'advice.dns'],
    ['HTTP 401 Unauthorized from http://a:9100/metrics', 'advice.unauthorized'],
    ['server returned HTTP status 403 Forbidden', 'advice.unauthorized'],
    ['HTTP 404 Not Found from http://127.0.0.1:19100/nope', 'advice.notFound'],
    ['server returned HTTP status 404 Not Found', 'advice.notFound'],
    ['server returned HTTP status 500 Internal Server Error', 'advice.serverError'],
    ['body size limit exceeded: the response is larger than body_size_limit 10MB', 'advice.bodyLimit'],
    ['sample limit exceeded: 2000 samples, sample_limit is 1000', 'advice.bodyLimit'],
    ['TLS handshake with a:443 failed: invalid peer certificate: UnknownIssuer', 'advice.tls'],
    ['x509: certificate signed by unknown authority', 'advice.tls'],
    ['parse error at 3:1: invalid metric name', 'advice.parse'],
    ['read: connection reset by peer', 'advice.reset'],
    ['dial tcp 10.1.1.1:9100: connect: no route to host', 'advice.unreachableNet'],
    ['something nobody has seen before', 'advice.generic'],
  ];
  for (const [error, key] of cases) {
    it(`maps "${error}"`, () => expect(scrapeErrorAdvice(error)).toBe(key));
  }
  it('does not read a port such as :4010 as an HTTP status', () => {
    expect(scrapeErrorAdvice('connection refused: nothing listens on 10.0.0.1:4010')).toBe('advice.refused');
    expect(scrapeErrorAdvice('weird failure talking to 10.0.0.1:4010')).toBe('advice.generic');
  });
});
