/** node-path.ts — node:path for the browser worker's bundle: the bundled code only joins and relativises names it never opens. */
export const join = (...parts: string[]): string => parts.join('/');
export const relative = (_from: string, to: string): string => to;
export const dirname = (p: string): string => p.replace(/\/[^/]*$/, '') || '/';
export const delimiter = ':';
