/**
 * Bodies a store lent from its own read buffers (the disk store). A HIT sent in full gives
 * its body's buffer back for the store's next read, so that a hit does not cost fresh pages
 * that the kernel must map and zero for every body. Any other use keeps the body (it is then
 * left to the garbage collector): a body written back by a revalidation, shared by requests
 * that waited on the cache lock, or handed to user code through `lookup()` is never reused.
 */
const lenders = new WeakMap<Buffer, () => void>();

/** Records that `giveBack` returns `body`'s memory to the store that read it. */
export function lend(body: Buffer, giveBack: () => void): void {
  lenders.set(body, giveBack);
}

/**
 * What gives `body` back, to be called once its response has finished; `undefined` for a
 * body no store lent. Only its first call counts: a buffer given back twice would be lent
 * to two hits at once.
 */
export function takeBack(body: Buffer): (() => void) | undefined {
  const giveBack = lenders.get(body);
  if (giveBack === undefined) return undefined;
  lenders.delete(body);
  let given = false;
  return () => {
    if (given) return;
    given = true;
    giveBack();
  };
}
