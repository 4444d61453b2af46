import type { PageOf } from '@astrdesk/protocol';
import { type APIPromise, type APIResponse, APIPromise as BaseAPIPromise } from './api-promise.js';
import { AstrDeskError } from './error.js';
import type { Message, MessagePageBody } from './types.js';

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
export class PagePromise<Item, P extends Page<Item> = Page<Item>>
  extends BaseAPIPromise<P>
  implements AsyncIterable<Item>
{
  constructor(response: Promise<APIResponse<P>>) {
    super(response);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Item, void, undefined> {
    const page = await this;
    yield* page;
  }
}

/** Fetches the page of messages that starts at `cursor`, going `older` or `newer`. */
export type MessagePageFetcher = (
  direction: 'older' | 'newer',
  cursor: string,
) => PagePromise<Message, MessagePage>;

/**
 * A page of a conversation's messages. Besides `next_cursor` (which follows the page's
 * `direction`; for an `around` page it goes to older messages) it has cursors in both
 * directions, so a chat view can page up and down from wherever it is.
 *
 * - `direction: 'older'` (default): newest first, `getNextPage()` goes back in time.
 * - `direction: 'newer'`: oldest first, `getNextPage()` goes forward.
 * - `around: messageId`: the page centred on that message, oldest first.
 */
export class MessagePage extends Page<Message> implements MessagePageBody {
  older_cursor: string | null;
  newer_cursor: string | null;
  readonly #fetchDirection: MessagePageFetcher;

  constructor(body: MessagePageBody, fetchDirection: MessagePageFetcher, next: 'older' | 'newer') {
    super(body, (cursor) => fetchDirection(next, cursor));
    this.older_cursor = nonEmpty(body.older_cursor);
    this.newer_cursor = nonEmpty(body.newer_cursor);
    this.#fetchDirection = fetchDirection;
  }

  override getNextPage(): Promise<MessagePage> {
    return super.getNextPage() as Promise<MessagePage>;
  }

  /** Whether there are older messages than the oldest one of this page. */
  hasOlderPage(): boolean {
    return this.older_cursor !== null;
  }

  /** Whether there are newer messages than the newest one of this page. */
  hasNewerPage(): boolean {
    return this.newer_cursor !== null;
  }

  /** The messages before this page, newest first. */
  getOlderPage(): Promise<MessagePage> {
    if (this.older_cursor === null)
      return Promise.reject(new AstrDeskError('No older page: check hasOlderPage() first'));
    return Promise.resolve(this.#fetchDirection('older', this.older_cursor));
  }

  /** The messages after this page, oldest first. */
  getNewerPage(): Promise<MessagePage> {
    if (this.newer_cursor === null)
      return Promise.reject(new AstrDeskError('No newer page: check hasNewerPage() first'));
    return Promise.resolve(this.#fetchDirection('newer', this.newer_cursor));
  }

  override toJSON(): MessagePageBody {
    return { ...super.toJSON(), older_cursor: this.older_cursor, newer_cursor: this.newer_cursor };
  }
}

function nonEmpty(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}
