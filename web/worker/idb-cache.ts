/**
 * idb-cache.ts — the browser worker's dataset cache (worker-session.ts DataCache) in IndexedDB,
 * keyed by the payload's sha256: a reload joins with the copy it holds. What is read back is
 * used only after its sha256 (WebCrypto) is the descriptor's; a copy that does not check is
 * deleted, and the session downloads the data again. A failing store (private mode, quota) is a
 * note, never the session's end.
 */
import type { DataCache } from '../../src/parallel/worker-session';
import type { DataDescriptor } from '../../src/parallel/messages';

const DB = 'gradsync-worker';
const STORE = 'datasets';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB open failed'));
  });
}

function request<T>(db: IDBDatabase, mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const r = f(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(r.result);
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB request failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

async function sha256Hex(b: ArrayBuffer): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', b));
  return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** The cache; `note` hears what went wrong with it (a copy discarded, a store that failed). */
export function indexedDbCache(note: (line: string) => void): DataCache {
  return {
    async get(d: DataDescriptor): Promise<ArrayBuffer | null> {
      try {
        const db = await open();
        const v = await request<unknown>(db, 'readonly', (s) => s.get(d.payloadSha256));
        if (!(v instanceof ArrayBuffer)) return null;
        if (v.byteLength === d.bytes && (await sha256Hex(v)) === d.payloadSha256) return v;
        await request(db, 'readwrite', (s) => s.delete(d.payloadSha256));
        note(`the cached copy of ${d.name} did not match its hash: discarded, downloading it again`);
        return null;
      } catch (e) {
        note(`the dataset cache cannot be read: ${(e as Error).message}`);
        return null;
      }
    },
    async put(d: DataDescriptor, bytes: Uint8Array): Promise<void> {
      try {
        const db = await open();
        const copy = bytes.slice().buffer;
        await request(db, 'readwrite', (s) => s.put(copy, d.payloadSha256));
      } catch (e) {
        note(`the dataset could not be cached: ${(e as Error).message}`);
      }
    },
  };
}
