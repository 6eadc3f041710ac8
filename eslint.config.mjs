// ESLint (npm run lint; test/lint/source.test.ts runs it): typescript-eslint's
// recommended type-aware rules over src/, no `any`, the OS reached only from
// src/host/, a doc comment on every export. Unused exports are found by
// ts-unused-exports over tsconfig.json (the same test).
import jsdoc from "eslint-plugin-jsdoc";
import tseslint from "typescript-eslint";

/** What only src/host/ may import: Node's modules and QuickJS's std/os. */
const osModules = {
  patterns: [{ group: ["node:*"], message: "only src/host/ touches the OS" }],
  paths: [
    { name: "std", message: "only src/host/ touches the OS" },
    { name: "os", message: "only src/host/ touches the OS" },
  ],
};

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "test-artifacts/"] },
  {
    files: ["src/**/*.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname } },
    plugins: { jsdoc },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
      "no-restricted-imports": ["error", osModules],
      "no-restricted-globals": ["error",
        { name: "process", message: "only src/host/ touches the OS" },
        { name: "require", message: "only src/host/ touches the OS" }],
      "no-restricted-properties": ["error",
        { object: "globalThis", property: "std", message: "only src/host/ touches the OS" },
        { object: "globalThis", property: "os", message: "only src/host/ touches the OS" }],
      "jsdoc/require-jsdoc": ["error", {
        publicOnly: { esm: true },
        require: { FunctionDeclaration: true, ClassDeclaration: true },
        contexts: ["TSInterfaceDeclaration", "TSTypeAliasDeclaration", "ExportNamedDeclaration > VariableDeclaration"],
      }],
    },
  },
  {
    files: ["src/host/**/*.ts"],
    rules: { "no-restricted-imports": "off", "no-restricted-globals": "off", "no-restricted-properties": "off" },
  },
);
