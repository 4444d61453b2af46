import type { PageOf } from '@astrdesk/protocol';
import { type APIPromise, type APIResponse, APIPromise as BaseAPIPromise } from './api-promise.js';
import { AstrDeskError } from './error.js';

/** Fetches the page that starts at `cursor`, with the same filters and page size. */
export type PageFetcher<Item> = (cursor: string) => APIPromise<Page<Item>>;

/**
 * One page of a list: `{ data, next_cursor, has_more }` as on the wire, plus helpers to walk
 * to the next page. Iterating a page with `for await` yields its items and those of every
 * following page.
 */
export class Page<Item> implements PageOf<Item> {
  data: Item[];
  next_cursor: string | null;
  has_more: boolean;
  readonly #fetchPage: PageFetcher<Item>;

  constructor(body: PageOf<Item>, fetchPage: PageFetcher<Item>) {
    this.data = Array.isArray(body.data) ? body.data : [];
    this.next_cursor =
      typeof body.next_cursor === 'string' && body.next_cursor !== '' ? body.next_cursor : null;
    this.has_more = body.has_more === true;
    this.#fetchPage = fetchPage;
  }

  /** Whether there is a page after this one. */
  hasNextPage(): boolean {
    return this.has_more && this.next_cursor !== null;
  }

  /** Fetches the next page; throws if there is none (check {@link hasNextPage} first). */
  getNextPage(): Promise<Page<Item>> {
    if (this.next_cursor === null || !this.has_more) {
      return Promise.reject(
        new AstrDeskError('No next page: check hasNextPage() before calling getNextPage()'),
      );
    }
    return Promise.resolve(this.#fetchPage(this.next_cursor));
  }

  /** This page and every following one. */
  async *iterPages(): AsyncGenerator<Page<Item>, void, undefined> {
    let page: Page<Item> = this;
    const seen = new Set<string>();
    yield page;
    while (page.hasNextPage()) {
      const cursor = page.next_cursor as string;
      // A server that hands back a cursor it already gave would otherwise loop forever.
      if (seen.has(cursor))
        throw new AstrDeskError(`The API returned the cursor ${cursor} twice; stopping`);
      seen.add(cursor);
      page = await page.getNextPage();
      yield page;
    }
  }

  /** Every item of this page and of the pages after it. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Item, void, undefined> {
    for await (const page of this.iterPages()) {
      for (const item of page.data) yield item;
    }
  }

  toJSON(): PageOf<Item> {
    return { data: this.data, next_cursor: this.next_cursor, has_more: this.has_more };
  }
}

/**
 * What list methods return. `await` it for the first {@link Page}; `for await` over it for
 * every item across all pages, fetched one page at a time as you go.
 *
 * @example
 * const page = await client.members.list({ limit: 50 });
 * for await (const member of client.members.list()) console.log(member.email);
 */
export class PagePromise<Item> extends BaseAPIPromise<Page<Item>> implements AsyncIterable<Item> {
  constructor(response: Promise<APIResponse<Page<Item>>>) {
    super(response);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Item, void, undefined> {
    const page = await this;
    yield* page;
  }
}
