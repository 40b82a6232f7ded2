import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, apiGet, apiUrl, onReachabilityChange, UnreachableError } from './api';

function answer(status: number, body: string) {
  return vi.fn(async () => new Response(body, { status }));
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('apiGet', () => {
  it('builds API URLs with repeated parameters', () => {
    expect(apiUrl('series', { 'match[]': ['up', 'x'], start: undefined })).toBe(
      '/api/v1/series?match%5B%5D=up&match%5B%5D=x',
    );
  });

  it('returns data, warnings and infos of a success answer', async () => {
    vi.stubGlobal('fetch', answer(200, '{"status":"success","data":[1],"warnings":["w"],"infos":["i"]}'));
    await expect(apiGet<number[]>('labels')).resolves.toEqual({ data: [1], warnings: ['w'], infos: ['i'] });
  });

  it("turns an error answer into the server's type and message", async () => {
    vi.stubGlobal('fetch', answer(400, '{"status":"error","errorType":"bad_data","error":"parse error"}'));
    const e = await apiGet('query').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ errorType: 'bad_data', message: 'parse error', status: 400 });
  });

  it('reports an unreachable server and clears it on the next answer', async () => {
    const seen: Array<string | null> = [];
    const stop = onReachabilityChange((p) => seen.push(p));
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        throw new TypeError('Failed to fetch');
      }),
    );
    await expect(apiGet('targets')).rejects.toBeInstanceOf(UnreachableError);
    vi.stubGlobal('fetch', answer(502, 'Bad Gateway'));
    await expect(apiGet('targets')).rejects.toBeInstanceOf(UnreachableError);
    vi.stubGlobal('fetch', answer(200, '{"status":"success","data":{}}'));
    await apiGet('targets');
    stop();
    expect(seen).toEqual([null, 'Failed to fetch', 'HTTP 502', null]);
  });

  it('names a non-JSON answer instead of failing on it', async () => {
    vi.stubGlobal('fetch', answer(404, 'page not found'));
    const e = await apiGet('nope').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).message).toContain('did not answer with JSON');
  });
});
