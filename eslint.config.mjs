// Lint: typescript-eslint recommended, plus the layer rule of STYLE.md:
// cli → train → parallel → {observe, optim, data, model} → tensor; net sits below observe and parallel;
// export (ONNX, safetensors) sits beside train: it reads model and tensor, never files or config.
// Top-level src/ modules (errors.ts, package-root.ts) are allowed everywhere, config.ts and env.ts where not forbidden.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (folder, forbidden) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((f) => ({
          group: [`../${f}`, `../${f}/*`, `../../${f}`, `../../${f}/*`],
          message: `src/${folder} must not import src/${f} (layers point down)`,
        })),
      },
    ],
  },
});

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'build/**',
      'runs/**',
      'scripts/*.js',
      'scripts/*.mjs',
      'bin/**',
      '*.mjs',
      'wasm/**',
      'native/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  layer('tensor', ['net', 'model', 'optim', 'data', 'observe', 'parallel', 'train', 'cli', 'config', 'env', 'export']),
  layer('model', ['net', 'optim', 'data', 'observe', 'parallel', 'train', 'cli', 'config', 'env', 'export']),
  layer('optim', ['net', 'model', 'data', 'observe', 'parallel', 'train', 'cli', 'config', 'env', 'export']),
  layer('data', ['net', 'model', 'optim', 'observe', 'parallel', 'train', 'cli', 'config', 'env', 'export']),
  layer('net', ['observe', 'parallel', 'train', 'cli', 'config', 'export']),
  layer('observe', ['parallel', 'train', 'cli', 'config', 'export']),
  layer('parallel', ['train', 'cli', 'config', 'export']),
  layer('export', ['net', 'optim', 'data', 'observe', 'parallel', 'train', 'cli', 'config', 'env']),
  layer('train', ['cli']),
);
