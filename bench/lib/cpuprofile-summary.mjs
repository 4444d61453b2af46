#!/usr/bin/env node
// `summarize(p, {pkg})` ranks the inclusive time of that package's functions (default
// @astrdesk/server; the sidecar benches pass @astrdesk/sidecar).
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by hot line,
// inclusive time of the server's own functions, and time per package. Positions inside the
// bundled server (packages/server/dist/*.js or bench/.server-build/dist) are mapped back to packages/server/src via the
// bundle's source map (decoded here, no dependency).
//
// Usage: node bench/lib/cpuprofile-summary.mjs PROFILE.cpuprofile [--top 25] [--json]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---- source maps -------------------------------------------------------------------------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map([...B64].map((ch, i) => [ch, i]));

function decodeVlqSegment(seg) {
  const out = [];
  let value = 0;
  let shift = 0;
  for (const ch of seg) {
    const digit = B64_INDEX.get(ch);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

/** Parses a v3 source map into, per generated line, segments [genCol, srcIdx, srcLine, srcCol]. */
function parseSourceMap(mapFile) {
  const map = JSON.parse(fs.readFileSync(mapFile, 'utf8'));
  const dir = path.dirname(mapFile);
  const sources = map.sources.map((s) => path.resolve(dir, map.sourceRoot ?? '', s));
  const lines = [];
  let src = 0;
  let srcLine = 0;
  let srcCol = 0;
  for (const lineStr of map.mappings.split(';')) {
    let genCol = 0;
    const segs = [];
    if (lineStr) {
      for (const segStr of lineStr.split(',')) {
        const v = decodeVlqSegment(segStr);
        genCol += v[0];
        if (v.length >= 4) {
          src += v[1];
          srcLine += v[2];
          srcCol += v[3];
          segs.push([genCol, src, srcLine, srcCol]);
        }
      }
    }
    lines.push(segs);
  }
  return { sources, lines };
}

const mapCache = new Map();
function sourceMapFor(file) {
  if (!mapCache.has(file)) {
    let m = null;
    try {
      if (fs.existsSync(`${file}.map`)) m = parseSourceMap(`${file}.map`);
    } catch {
      m = null;
    }
    mapCache.set(file, m);
  }
  return mapCache.get(file);
}

/** Maps 0-based (line, col) in a generated file to { file, line (1-based) } in its source. */
function originalPosition(file, line, col) {
  const m = sourceMapFor(file);
  if (!m) return null;
  const segs = m.lines[line];
  if (!segs || segs.length === 0) return null;
  let best = segs[0];
  for (const s of segs) {
    if (s[0] <= col) best = s;
    else break;
  }
  return { file: m.sources[best[1]], line: best[2] + 1 };
}

// ---- profile ------------------------------------------------------------------------------

const rel = (f) => (f.startsWith(REPO_ROOT) ? path.relative(REPO_ROOT, f) : f);

function fileOf(url) {
  if (!url) return '';
  return url.startsWith('file://') ? fileURLToPath(url) : url;
}

/** Where a V8 position really is: the original source for the bundled server, else the file itself. */
function locate(url, line0, col0) {
  const file = fileOf(url);
  if (!file) return { file: '', line: line0 + 1 };
  // Our own bundles (packages/*/dist, bench/.server-build/dist) carry source maps.
  if (
    !file.includes(`${path.sep}node_modules${path.sep}`) &&
    file.includes(`${path.sep}dist${path.sep}`)
  ) {
    const o = originalPosition(file, line0, col0);
    if (o) return { file: rel(o.file), line: o.line };
  }
  return { file: rel(file), line: line0 + 1 };
}

function packageOf(file, fnName) {
  if (!file) {
    if (fnName === '(garbage collector)') return '(gc)';
    if (fnName === '(idle)' || fnName === '(program)') return fnName;
    return '(native/V8)';
  }
  if (file.startsWith('node:')) return 'node core';
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = file.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const pk = /(?:^|\/)packages\/([^/]+)\//.exec(file);
  if (pk) return `@astrdesk/${pk[1]}`;
  if (file.includes('/.server-build/')) return '@astrdesk/server';
  if (file.includes('/bench/')) return 'bench';
  return file;
}

export function summarize(profile, { top = 25, pkg = '@astrdesk/server' } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Time per sample (µs). timeDeltas[i] is the time before sample i; attribute it to sample i.
  const selfUs = new Map();
  let totalUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = Math.max(0, profile.timeDeltas[i] ?? 0);
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    totalUs += dt;
    if (byId.get(id)?.callFrame.functionName === '(idle)') idleUs += dt;
  });
  const busyUs = totalUs - idleUs;

  const info = new Map();
  const nodeInfo = (n) => {
    if (!info.has(n.id)) {
      const cf = n.callFrame;
      const loc = locate(cf.url, cf.lineNumber, cf.columnNumber);
      const fn = cf.functionName || '(anonymous)';
      info.set(n.id, {
        fn,
        file: loc.file,
        line: loc.line,
        key: `${fn} ${loc.file}:${loc.line}`,
        pkg: packageOf(loc.file, fn),
      });
    }
    return info.get(n.id);
  };

  const selfByFn = new Map();
  const selfByPkg = new Map();
  const selfByLine = new Map();
  const inclusiveServer = new Map();
  const inclusiveAll = new Map();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    const ni = nodeInfo(n);
    if (ni.fn === '(idle)') continue;
    selfByFn.set(ni.key, (selfByFn.get(ni.key) ?? 0) + us);
    selfByPkg.set(ni.pkg, (selfByPkg.get(ni.pkg) ?? 0) + us);
    // Line-level ticks inside the function, when V8 recorded them.
    const ticks = n.positionTicks ?? [];
    const tickSum = ticks.reduce((a, t) => a + t.ticks, 0);
    if (tickSum > 0) {
      for (const t of ticks) {
        // positionTicks lines are 1-based lines of the generated file; column unknown → 0.
        const loc = locate(n.callFrame.url, t.line - 1, 0);
        const k = `${loc.file}:${loc.line}  (in ${ni.fn})`;
        selfByLine.set(k, (selfByLine.get(k) ?? 0) + (us * t.ticks) / tickSum);
      }
    } else {
      const k = `${ni.file}:${ni.line}  (in ${ni.fn})`;
      selfByLine.set(k, (selfByLine.get(k) ?? 0) + us);
    }
    // Inclusive time of the server's own functions: walk the stack once per sampled node.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const ci = nodeInfo(byId.get(cur));
      if (seen.has(ci.key) || ci.fn === '(root)') continue;
      seen.add(ci.key);
      inclusiveAll.set(ci.key, (inclusiveAll.get(ci.key) ?? 0) + us);
      if (ci.pkg === pkg) inclusiveServer.set(ci.key, (inclusiveServer.get(ci.key) ?? 0) + us);
    }
  }

  const rank = (m, n) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => ({
        what: k,
        ms: Math.round(us / 1000),
        pct_of_busy: Math.round((us / busyUs) * 1000) / 10,
      }));

  return {
    total_ms: Math.round(totalUs / 1000),
    busy_ms: Math.round(busyUs / 1000),
    idle_pct: Math.round((idleUs / totalUs) * 1000) / 10,
    self_by_package: rank(selfByPkg, 20),
    self_by_function: rank(selfByFn, top),
    self_by_line: rank(selfByLine, top),
    inclusive_server_functions: rank(inclusiveServer, top),
    inclusive_all_functions: rank(inclusiveAll, top + 15),
  };
}

export function formatSummary(s, title = '') {
  const out = [];
  if (title) out.push(`== ${title}`);
  out.push(
    `sampled ${s.total_ms} ms, busy ${s.busy_ms} ms (idle ${s.idle_pct}%); percentages are of busy time`,
  );
  const table = (name, rows) => {
    out.push(`-- ${name}`);
    for (const r of rows)
      out.push(`${String(r.pct_of_busy).padStart(5)}%  ${String(r.ms).padStart(6)} ms  ${r.what}`);
  };
  table('self time by package', s.self_by_package);
  table('self time by function', s.self_by_function);
  table('self time by line', s.self_by_line);
  table('inclusive time, own package functions', s.inclusive_server_functions);
  if (s.inclusive_all_functions) table('inclusive time, all functions', s.inclusive_all_functions);
  return out.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const file = args.find(
    (a, i) => !a.startsWith('--') && args[i - 1] !== '--top' && args[i - 1] !== '--pkg',
  );
  if (!file) {
    console.error('usage: cpuprofile-summary.mjs PROFILE.cpuprofile [--top N] [--json]');
    process.exit(2);
  }
  const topIdx = args.indexOf('--top');
  const top = topIdx >= 0 ? Number(args[topIdx + 1]) : 25;
  const pkgIdx = args.indexOf('--pkg');
  const s = summarize(JSON.parse(fs.readFileSync(file, 'utf8')), {
    top,
    ...(pkgIdx >= 0 ? { pkg: args[pkgIdx + 1] } : {}),
  });
  console.log(
    args.includes('--json') ? JSON.stringify(s, null, 2) : formatSummary(s, path.basename(file)),
  );
}
