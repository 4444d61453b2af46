/** What the client resolves a request with before the caller sees only `data`. */
export interface APIResponse<T> {
  data: T;
  /** The HTTP response; its body has already been read. */
  response: Response;
  /** The `x-request-id` of the answer, to quote to support. */
  requestId: string | undefined;
}

/**
 * The promise every method returns. Await it for the parsed body, or call `.withResponse()`
 * for the body together with the HTTP response and request id.
 *
 * @example
 * const member = await client.members.retrieve('usr_...');
 * const { data, requestId } = await client.members.retrieve('usr_...').withResponse();
 */
export class APIPromise<T> implements PromiseLike<T> {
  readonly #response: Promise<APIResponse<T>>;
  #data: Promise<T> | undefined;

  constructor(response: Promise<APIResponse<T>>) {
    this.#response = response;
  }

  /** The parsed body with the response it came from. */
  withResponse(): Promise<APIResponse<T>> {
    return this.#response;
  }

  // Derived lazily, so a caller that only uses withResponse() sees no extra unhandled rejection.
  #parsed(): Promise<T> {
    this.#data ??= this.#response.then((r) => r.data);
    return this.#data;
  }

  // biome-ignore lint/suspicious/noThenProperty: an APIPromise is awaitable by design
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#parsed().then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#parsed().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#parsed().finally(onfinally);
  }

  get [Symbol.toStringTag](): string {
    return 'APIPromise';
  }
}
