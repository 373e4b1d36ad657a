// tsconfig uses moduleResolution "node", which ignores package.json "exports", so the
// documented entry point 'vscode-languageclient/node' has no types there; point it at the file the
// exports map names. (esbuild, which honours "exports", bundles the real module.)
declare module 'vscode-languageclient/node' {
  export * from 'vscode-languageclient/lib/node/main';
}
