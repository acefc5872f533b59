/**
 * lazy.ts — a module loaded when it is first needed: a command's module (main.ts), a server or
 * a progress bar that only some runs start (train.ts), so that a run does not pay for loading
 * what it never uses. `id` is relative to src/cli. require(), not import(): the build is
 * CommonJS, where import() would go through the ECMAScript loader for a CommonJS file.
 */
export function load<M>(id: string): M {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(id) as M;
}
