import { join } from 'node:path';
import ts from 'typescript';
import { PREAMBLES } from './preambles.js';
import type { Snippet } from './snippets.js';

/** The checking flags a current `tsc --init` (TypeScript 5.9) turns on; the pack test uses them too. */
export const TSC_INIT_FLAGS = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  noUncheckedSideEffectImports: true,
} as const;

/**
 * What a new project gets from `tsc --init` (TypeScript 5.9), minus emit and JSX, plus Node's
 * types: strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess, NodeNext, ESM.
 */
export const SNIPPET_COMPILER_OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ESNext,
  types: ['node'],
  ...TSC_INIT_FLAGS,
  moduleDetection: ts.ModuleDetectionKind.Force,
  skipLibCheck: true,
  noEmit: true,
};

/** A snippet as compiled: the preamble lines, then the block. */
export interface SnippetSource {
  /** A file name no disk file has; it sits in the repository so `@aauth-kit/*` resolve to the built packages. */
  fileName: string;
  text: string;
  /** Lines of preamble before the block's first line. */
  preambleLines: number;
}

/** Name of the virtual file of a snippet: under `dir`, unique per README line. */
export function snippetFileName(dir: string, snippet: Snippet): string {
  return join(dir, `${snippet.file.replace(/[\\/]/g, '__')}-L${snippet.fenceLine}.ts`);
}

/** Preamble + block; an unknown preamble name throws, so a typo is not a silent pass. */
export function snippetSource(dir: string, snippet: Snippet): SnippetSource {
  const pre = snippet.preamble.map((name) => {
    const decl = PREAMBLES[name];
    if (decl === undefined) {
      throw new Error(`${snippet.file}:${snippet.fenceLine}: unknown snippet-preamble "${name}" (known: ${Object.keys(PREAMBLES).join(', ')})`);
    }
    return decl;
  });
  return { fileName: snippetFileName(dir, snippet), text: [...pre, snippet.code].join('\n') + '\n', preambleLines: pre.length };
}

/** Type-check virtual sources in one program (against whatever `node_modules` resolves from `dir`). */
export function createSnippetProgram(sources: readonly { fileName: string; text: string }[], options: ts.CompilerOptions = SNIPPET_COMPILER_OPTIONS): ts.Program {
  const byName = new Map(sources.map((s) => [s.fileName, s.text]));
  const host = ts.createCompilerHost(options, true);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => byName.has(f) || fileExists.call(host, f);
  host.readFile = (f) => byName.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, languageVersion, onError, shouldCreate) => {
    const text = byName.get(f);
    if (text !== undefined) return ts.createSourceFile(f, text, languageVersion, true);
    return getSourceFile.call(host, f, languageVersion, onError, shouldCreate);
  };
  return ts.createProgram({ rootNames: [...byName.keys()], options, host });
}

/** The diagnostics of one source, each as `where: TSnnnn message`, with lines mapped to `mapLine`. */
export function diagnosticsOf(program: ts.Program, fileName: string, mapLine: (zeroBasedLine: number) => string): string[] {
  const sf = program.getSourceFile(fileName);
  if (!sf) return [`${fileName}: not part of the program`];
  const diags = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
  return diags.map((d) => {
    const where = d.start === undefined ? '?' : (() => {
      const { line, character } = sf.getLineAndCharacterOfPosition(d.start);
      return `${mapLine(line)}:${character + 1}`;
    })();
    return `${where}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n  ')}`;
  });
}

/** Lines of a snippet's diagnostics as `README.md:71:5`, or `preamble "app"` for a preamble line. */
export function snippetLineMapper(snippet: Snippet, source: SnippetSource): (line: number) => string {
  return (line) =>
    line < source.preambleLines ? `preamble "${snippet.preamble[line]}"` : `${snippet.file}:${snippet.fenceLine + 1 + line - source.preambleLines}`;
}
