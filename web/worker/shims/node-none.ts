/**
 * node-none.ts — what the browser worker's bundle gets for node:fs, node:module and the package
 * folder's lookup (scripts/build-web.js points them here): the bundled code reaches them only
 * where a Node process reads files (the folder cache, the native addon, the .wasm from disk),
 * which the browser worker never asks for; each call says so instead of failing obscurely.
 */
const none = (what: string) => (): never => {
  throw new Error(`${what} is not available in the browser worker`);
};

export const readFileSync = none('fs.readFileSync');
export const statSync = none('fs.statSync');
export const openSync = none('fs.openSync');
export const readSync = none('fs.readSync');
export const writeSync = none('fs.writeSync');
export const closeSync = none('fs.closeSync');
export const fsyncSync = none('fs.fsyncSync');
export const renameSync = none('fs.renameSync');
export const mkdirSync = none('fs.mkdirSync');
export const createRequire = none('module.createRequire');

/** package-root.ts's lookup: a browser has no package folder. */
export const packageRoot = (): null => null;
