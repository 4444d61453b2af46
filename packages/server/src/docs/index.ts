import type { OpenAPIHono } from '@hono/zod-openapi';
import { html, raw } from 'hono/html';
import type { AppEnv } from '../infra/http/context.js';

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  'x-astrdesk-auth'?: string;
  requestBody?: { content?: Record<string, { schema?: unknown; example?: unknown }> };
  parameters?: Array<{ name: string; in: string; required?: boolean }>;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** The OpenAPI 3.1 document, built from the same zod schemas that validate requests. */
export function openApiDocument(app: OpenAPIHono<AppEnv>, version: string) {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description:
      'Member session (`ads_`), API key (`adk_`), operator token (`ado_`), widget or instance token.',
  });
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'AstrDesk API',
      version,
      description:
        'Multi-tenant customer service for AstrBot. Errors use `{ "error": { type, code, message, param?, request_id } }`.',
      license: { name: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
  });
}

/**
 * A self-contained API reference page (no CDN), rendered from the OpenAPI document so it
 * works offline and can never drift from the routes.
 */
export function renderDocs(doc: ReturnType<typeof openApiDocument>): string {
  const byTag = new Map<string, Array<{ method: string; path: string; op: Operation }>>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = (item as Record<string, Operation | undefined>)[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? 'Other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push({ method, path, op });
    }
  }
  const sections = [...byTag].map(
    ([tag, ops]) =>
      html`<section id="${tag}"><h2>${tag}</h2>${ops.map(
        ({ method, path, op }) => html`<article>
        <h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${path}</code></h3>
        <p class="s">${op.summary ?? ''} <span class="auth">auth: ${op['x-astrdesk-auth'] ?? 'public'}</span></p>
        ${op.description ? html`<p>${op.description}</p>` : ''}
        ${op.parameters?.length ? html`<p>Parameters: ${op.parameters.map((p) => html`<code>${p.name}</code> (${p.in}${p.required ? ', required' : ''}) `)}</p>` : ''}
        ${op.requestBody?.content?.['application/json']?.schema ? html`<details><summary>Request body schema</summary><pre>${JSON.stringify(op.requestBody.content['application/json'].schema, null, 2)}</pre></details>` : ''}
      </article>`,
      )}</section>`,
  );
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>AstrDesk API reference</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>${raw(`body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1d2330}
h2{border-bottom:1px solid #dde;padding-bottom:.3rem;margin-top:2.5rem}article{margin:1.2rem 0}h3{font-size:1rem;margin:.2rem 0}
.m{display:inline-block;min-width:4.5em;font-size:.75rem;padding:.1rem .4rem;border-radius:4px;color:#fff;text-align:center}
.get{background:#2f7d32}.post{background:#1f5fbf}.patch,.put{background:#a86a00}.delete{background:#b3261e}
.s{margin:.2rem 0;color:#444}.auth{font-size:.8rem;color:#666;margin-left:.5rem}pre{background:#f5f6f8;padding:.6rem;overflow:auto;font-size:.8rem}`)}</style>
</head><body><h1>AstrDesk API <small>${doc.info.version}</small></h1>
<p>${doc.info.description ?? ''} Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<nav>${[...byTag.keys()].map((t) => html`<a href="#${t}">${t}</a> · `)}</nav>
${sections}</body></html>`.toString();
}
