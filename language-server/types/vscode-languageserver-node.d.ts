// tsconfig's moduleResolution "node" ignores package.json "exports", so the documented '/node' entry
// points have no types there; point them at the files the exports maps name (esbuild and tsx honour
// "exports" and load the real modules).
declare module 'vscode-languageserver/node' {
  export * from 'vscode-languageserver/lib/node/main';
}
declare module 'vscode-languageserver-protocol/node' {
  export * from 'vscode-languageserver-protocol/lib/node/main';
}
declare module 'vscode-jsonrpc/node' {
  export * from 'vscode-jsonrpc/lib/node/main';
}
