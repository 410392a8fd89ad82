// ESLint over src/, commands/ and test/ (npm run lint; test/run-all.sh runs it before the tests).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'cache/', 'bin/', 'images/']},
  {linterOptions: {reportUnusedDisableDirectives: 'error'}},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      // pivot loads heavy modules inside the functions that use them, synchronously where the
      // caller is synchronous: `require('x') as typeof import('x')` (docs/CONVENTIONS.md).
      '@typescript-eslint/no-require-imports': 'off',
      // `for await (const _ of stream) break` and the like: a leading underscore says "unused on purpose".
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_'}],
    },
  },
  {
    // Plain CommonJS scripts the test environment runs with node (test/env: the token server, fixtures).
    files: ['**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {require: 'readonly', module: 'writable', process: 'readonly', Buffer: 'readonly', URL: 'readonly', fetch: 'readonly', console: 'readonly', __dirname: 'readonly', setTimeout: 'readonly'},
    },
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },
)
