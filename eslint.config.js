// Lint for the browser modules under static/js and their tests (npm run lint; `make test` runs it).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["static/vendor/**", "node_modules/**", "var/**", ".venv/**"] },
  js.configs.recommended,
  {
    files: ["static/js/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.browser } },
    rules: {
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_" }],
      eqeqeq: ["error", "always"],
      "no-implied-eval": "error",
      "no-eval": "error",
      "no-new-func": "error",
      "prefer-const": "error",
      "no-var": "error",
    },
  },
  {
    // Classic scripts (not modules) loaded by base.html and the project page.
    files: ["static/js/project.js", "static/js/workspace/early.js"],
    languageOptions: { sourceType: "script" },
  },
  {
    files: ["tests/js/**/*.mjs", "eslint.config.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.node } },
  },
];
