/**
 * The package as people install it: `npm pack` of this checkout, installed into an empty
 * project from the tarball, then used there as a user would: `npx gradsync train`, and
 * `import { train } from 'gradsync'` compiled by tsc against the package's types. Both train the embedded default to the paramsSha256 of this
 * checkout's own run, with the same kernel (the tarball's native sources build on install).
 * The tarball holds what it needs and not the tests, fixtures or sources of the build.
 *
 * No network: the project's lock file is this checkout's, less its development packages, plus
 * the tarball, and `npm ci --offline` takes every package from npm's cache, where the
 * checkout's own `npm ci` left them (a cache without them skips, saying so).
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tempDir } from '../helpers/paths';

const root = repoRoot();
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Runs a command to its end (five minutes at most). */
function sh(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000 });
}

/** A command's stdout; fails the test with its output when it exited non-zero. */
function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r.stdout;
}

/** The `--json` summary a `gradsync train` printed (its last line of stdout). */
function summary(stdout: string): { paramsSha256: string; kernel: string; steps: number } {
  const last = stdout.trim().split('\n').at(-1)!;
  return JSON.parse(last) as { paramsSha256: string; kernel: string; steps: number };
}

/** The embedded default, trained by this checkout: what the installed package must reproduce. */
function reference(): { paramsSha256: string; kernel: string; steps: number } {
  const out = ok(
    sh(process.execPath, ['bin/gradsync.js', 'train', '--json', '--no-progress', '--run-dir', tempDir()], root),
    'the checkout’s train',
  );
  return summary(out);
}

interface LockEntry {
  dev?: boolean;
  devOptional?: boolean;
  version?: string;
  license?: string;
  engines?: unknown;
  bin?: unknown;
  dependencies?: Record<string, string>;
}

/** An empty project that depends on the tarball (copied into it), locked as this checkout is. */
function emptyProject(tgz: string, integrity: string): string {
  const dir = tempDir('gradsync-app-');
  const file = path.basename(tgz);
  fs.copyFileSync(tgz, path.join(dir, file));
  const dep = { gradsync: `file:${file}` };
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const self = lock.packages['']!;
  const packages: Record<string, unknown> = {
    '': { name: 'app', version: '1.0.0', dependencies: dep },
    'node_modules/gradsync': {
      version: self.version,
      resolved: `file:${file}`,
      integrity,
      hasInstallScript: true,
      license: self.license,
      dependencies: self.dependencies,
      bin: self.bin,
      engines: self.engines,
    },
  };
  for (const [k, v] of Object.entries(lock.packages)) if (k !== '' && !v.dev && !v.devOptional) packages[k] = v;
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: dep }));
  fs.writeFileSync(
    path.join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }),
  );
  return dir;
}

/** A user's program: the embedded default's config, written out, trained through the library. */
const userCode = (config: string): string => `import { train, validateConfig, type TrainSummary } from 'gradsync';

async function main(): Promise<void> {
  const cfg = validateConfig(${config.trim()});
  const s: TrainSummary = await train(cfg, { runDir: process.argv[2] });
  console.log(JSON.stringify({ paramsSha256: s.paramsSha256, kernel: s.kernel, steps: s.steps }));
}
main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
`;

describe('the npm package: packed, installed into an empty project, used there', function () {
  this.timeout(600_000);
  let tarball = '';
  let integrity = '';
  let app = '';

  before(function () {
    const dest = tempDir();
    const out = ok(sh(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], root), 'npm pack');
    // npm pack --json names the tarball without its folder
    const [info] = JSON.parse(out) as { filename: string; integrity: string }[];
    tarball = path.join(dest, info!.filename);
    integrity = info!.integrity;
    assert.ok(fs.existsSync(tarball), `npm pack wrote ${tarball}`);
  });

  it('holds the compiled code, the types, the WebAssembly module, the native sources and the embedded data — and no tests, fixtures or TypeScript sources', () => {
    const r = ok(sh(npm, ['pack', '--ignore-scripts', '--dry-run', '--json'], root), 'npm pack --dry-run');
    const files = (JSON.parse(r) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const need of [
      'package.json',
      'README.md',
      'bin/gradsync.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'dist/workers/pool-task.js',
      'dist/workers/remote-node.js',
      'dist/wasm/kernels.wasm',
      'dist/web/index.html',
      'dist/web/dashboard.js',
      'dist/web/dashboard.css',
      'binding.gyp',
      'native/addon.cc',
      'native/threads.cc',
      'scripts/build-native.js',
      'config/default.json',
      'config/data/digits.csv.gz',
    ])
      assert.ok(files.includes(need), `the tarball lacks ${need}`);
    const unwanted = files.filter(
      (f) =>
        /^(test|src|workers|scripts\/(?!build-native\.js)|dist\/test|dist\/scripts|\.ci|build)\//.test(f) ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    assert.deepEqual(unwanted, [], 'tests, fixtures, sources and local builds stay out of the tarball');
  });

  it('installs from the tarball alone into an empty project, whose `npx gradsync train` gives this checkout’s paramsSha256 and kernel', function () {
    const dir = emptyProject(tarball, integrity);
    const r = sh(npm, ['ci', '--offline', '--no-audit', '--no-fund'], dir);
    if (r.status !== 0 && /ENOTCACHED/.test(r.stderr)) {
      console.log(
        `      skipped: npm's cache lacks a dependency (${/request to (\S+)/.exec(r.stderr)?.[1] ?? 'ENOTCACHED'}); run \`npm ci\` in the checkout first`,
      );
      this.skip();
    }
    app = dir;
    ok(r, 'npm ci of the empty project');
    assert.ok(fs.existsSync(path.join(app, 'node_modules', 'gradsync', 'dist', 'src', 'index.js')));
    const want = reference();
    const got = summary(
      ok(
        sh(npm, ['exec', '--offline', '--', 'gradsync', 'train', '--json', '--no-progress', '--run-dir', path.join(app, 'run-cli')], app),
        'npx gradsync train',
      ),
    );
    assert.equal(got.paramsSha256, want.paramsSha256);
    assert.equal(got.kernel, want.kernel, 'the native kernels were built on install as in the checkout');
    assert.equal(got.steps, want.steps);
  });

  it('`import { train } from "gradsync"` type-checks against the package’s types and trains to the same paramsSha256', function () {
    if (app === '' || !fs.existsSync(path.join(app, 'node_modules', 'gradsync'))) this.skip();
    fs.writeFileSync(path.join(app, 'main.ts'), userCode(fs.readFileSync(path.join(root, 'config', 'default.json'), 'utf8')));
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'node16',
          moduleResolution: 'node16',
          strict: true,
          outDir: 'out',
          types: ['node'],
          typeRoots: [path.join(root, 'node_modules', '@types')],
        },
        files: ['main.ts'],
      }),
    );
    ok(
      sh(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app),
      'tsc of the user’s code',
    );
    const got = summary(ok(sh(process.execPath, ['out/main.js', path.join(app, 'run-lib')], app), 'the user’s program'));
    assert.equal(got.paramsSha256, reference().paramsSha256);
  });
});
