// The OpenAPI document as a client developer meets it (docs/api.md): fetched from the built server, linted with
// @redocly/cli, turned into a TypeScript client (openapi-typescript types + openapi-fetch) that tsc compiles in
// strict mode, and that client used against the same server, its answers checked against the document's schemas.
// Starts the server on a free port with a temporary data directory (email and link previews on, so every call is
// in the document) and stops it by its PID.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, copyFileSync, symlinkSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createServer } from 'node:net';
import Ajv2020 from 'ajv/dist/2020.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const dll = join(root, 'src/Parley.Server/bin/Release/net10.0/Parley.Server.dll');
const WAIT = 120_000;
const ADMIN_KEY = 'openapi-test-admin-key-0123456789';
const PASSWORD = 'correct horse battery';

let server, base, tmp, docPath, doc;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Runs a node script of a package (its CLI) to completion; resolves with its exit code and output, never rejects on a non-zero exit. */
function runNode(script, args, cwd = here) {
  return new Promise((resolve, reject) => {
    // No telemetry or update check from the CLIs: the test runs offline and sends nothing anywhere.
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_UPDATE_NOTIFIER: '1' };
    execFile(process.execPath, [script, ...args], { cwd, env, timeout: WAIT, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? error.code : 0, stdout, stderr });
    });
  });
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'parley-openapi-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn('dotnet', [dll, `--urls=${base}`, `--DataDir=${join(tmp, 'data')}`, '--Logging:LogLevel:Default=Warning',
    '--Auth:RegistrationsPerAddress=100000',
    // Optional features on, so that their calls are in the document too (nothing is mailed: no code is requested).
    '--Email:SmtpHost=127.0.0.1', '--Email:SmtpPort=2525', '--Email:From=parley@example.test',
    '--LinkPreviews:Enabled=true', `--Admin:ApiKeys:0=${ADMIN_KEY}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try { if ((await fetch(`${base}/health/ready`)).ok) break; } catch { /* not listening yet */ }
    if (Date.now() > deadline || server.exitCode !== null) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 200)); // polling interval while the server starts, not a sync point
  }
  const res = await fetch(`${base}/openapi/v1.json`, { signal: AbortSignal.timeout(30_000) });
  assert.equal(res.status, 200);
  doc = await res.json();
  docPath = join(tmp, 'openapi.json');
  writeFileSync(docPath, JSON.stringify(doc, null, 2));
});

after(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the document lints clean with @redocly/cli (0 errors; the only warning allowed is the missing licence)', async () => {
  const cli = join(here, 'node_modules/@redocly/cli/bin/cli.js');
  const { stdout, stderr } = await runNode(cli, ['lint', docPath, '--config', join(here, 'redocly.yaml'), '--format=json']);
  let report;
  try { report = JSON.parse(stdout); } catch { assert.fail(`redocly printed no JSON report:\n${stdout}\n${stderr}`); }
  const summary = report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location?.[0]?.pointer}: ${p.message}`).join('\n');
  assert.equal(report.totals.errors, 0, summary);
  // Parley declares no licence (the repository has none), so info-license stays; any other warning is a regression.
  assert.deepEqual([...new Set(report.problems.map((p) => p.ruleId))].filter((r) => r !== 'info-license'), [], summary);
});

test('a TypeScript client generated from the document compiles with tsc --noEmit (strict) and works against the server', async () => {
  // Generate the types.
  const generated = join(tmp, 'client');
  const gen = await runNode(join(here, 'node_modules/openapi-typescript/bin/cli.js'), [docPath, '--output', join(generated, 'parley.d.ts')]);
  assert.equal(gen.code, 0, gen.stderr + gen.stdout);
  copyFileSync(join(here, 'openapi-client.ts'), join(generated, 'openapi-client.ts'));
  symlinkSync(join(here, 'node_modules'), join(generated, 'node_modules'), 'dir');
  writeFileSync(join(generated, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(join(generated, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, exactOptionalPropertyTypes: false, noUncheckedIndexedAccess: true,
      target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2022', 'dom'], types: [],
      skipLibCheck: false, outDir: 'out',
    },
    files: ['parley.d.ts', 'openapi-client.ts'],
  }));
  const tsc = join(here, 'node_modules/typescript/bin/tsc');
  const check = await runNode(tsc, ['-p', generated, '--noEmit'], generated);
  assert.equal(check.code, 0, `tsc --noEmit:\n${check.stdout}${check.stderr}`);

  // The same client, emitted, against the server: register, group, send, history, login, errors, upload, file message.
  const emit = await runNode(tsc, ['-p', generated], generated);
  assert.equal(emit.code, 0, `tsc:\n${emit.stdout}${emit.stderr}`);
  const { scenario } = await import(pathToFileURL(join(generated, 'out', 'openapi-client.js')).href);
  const username = `gen_${Date.now().toString(36)}`;
  const seen = await scenario(base, username, PASSWORD);

  assert.equal(seen.register.user.username, username);
  assert.equal(seen.sentStatus, 201);
  assert.equal(seen.sentText, 'hello from a generated client');
  assert.deepEqual(seen.page.items.map((m) => m.seq), [1]);
  assert.equal(seen.login.user.id, seen.register.user.id);
  assert.deepEqual([seen.wrongPassword.status, seen.wrongPassword.error.code], [401, 'invalid_credentials']);
  assert.deepEqual([seen.anonymous.status, seen.anonymous.error.code], [401, 'unauthorized']);
  assert.equal(seen.anonymous.error.errors, undefined); // a real 401: no `errors`, no `traceId`
  assert.equal(seen.anonymous.error.traceId, undefined);
  assert.equal(seen.invalid.status, 400);
  assert.ok(seen.invalid.error.errors['content.text'], JSON.stringify(seen.invalid.error));
  assert.deepEqual(seen.fileOf, ['generated.txt', seen.upload.size]);

  // Every answer is valid against the schema the document gives for it.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(doc, 'parley');
  const check2 = (schema, value, what) => {
    const validate = ajv.compile({ $ref: `parley#/components/schemas/${schema}` });
    assert.ok(validate(value), `${what} does not match ${schema}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`);
  };
  check2('AuthResponse', seen.register, 'register');
  check2('GroupDto', seen.group, 'create group');
  check2('MessageDto', seen.sent, 'sent message');
  check2('MessagePage', seen.page, 'history');
  check2('ListResponseOfConversationDto', seen.conversations, 'conversations');
  check2('ConversationDto', seen.conversation, 'get conversation');
  check2('Receipts', seen.receipts, 'receipts');
  check2('ListResponseOfPublicUser', seen.users, 'user search');
  check2('SelfUser', seen.me, 'profile patch');
  check2('AuthResponse', seen.login, 'login');
  check2('Problem', seen.wrongPassword.error, 'wrong password');
  check2('Problem', seen.anonymous.error, '401 without a token');
  check2('Problem', seen.invalid.error, '400 invalid');
  check2('FileDto', seen.upload, 'upload');
  check2('MessageDto', seen.fileMessage, 'file message');
  // And the schemas are strict enough to notice a wrong shape.
  assert.equal(ajv.compile({ $ref: 'parley#/components/schemas/MessageDto' })({ ...seen.sent, content: { fileId: '1' } }), false);
  assert.equal(ajv.compile({ $ref: 'parley#/components/schemas/Problem' })({ type: 'about:blank', status: 401 }), false);
});

test('the document names the WebSocket protocol and docs/protocol.md', () => {
  assert.match(doc.info.description, /GET \/ws/);
  assert.match(doc.info.description, /docs\/protocol\.md/);
  assert.ok(readFileSync(join(root, 'docs/protocol.md'), 'utf8').length > 0);
});
