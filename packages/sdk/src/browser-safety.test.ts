import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from './version.js';

const SRC = path.dirname(new URL(import.meta.url).pathname);

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'test-utils' ? [] : sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

describe('the shipped source', () => {
  const files = sourceFiles(SRC);

  it('imports no Node built-ins, so it runs in browsers', () => {
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/from\s+['"]node:/);
      expect(text, file).not.toMatch(/\bBuffer\b|\brequire\(/);
    }
  });

  it('imports only types from @astrdesk/protocol and nothing from zod, so neither is bundled', () => {
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(
        /^(?:import|export)\b[^;]*?from\s+['"](?:@astrdesk\/protocol|zod)['"]/gm,
      )) {
        expect(m[0], file).toMatch(/^(import|export) type\b/);
      }
    }
  });

  it('reports the version in package.json', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(SRC, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(VERSION).toBe(pkg.version);
  });
});
