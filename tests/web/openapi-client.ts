// A client generated from /openapi/v1.json (openapi-typescript types + openapi-fetch), used as an application would:
// tests/web/openapi.test.mjs generates ./parley.d.ts next to a copy of this file, compiles both with tsc (strict) and
// runs scenario() against the running server. The type-level lines below fail to compile if the document loses its
// enums, its per-type message content or its optional members, so "it compiles" means the types are real.
import createClient from 'openapi-fetch';
import type { components, paths } from './parley.js';

type Schemas = components['schemas'];
type Message = Schemas['MessageDto'];

// The contract's closed sets are enums.
export const messageTypes: Message['type'][] = ['text', 'image', 'file', 'audio', 'video', 'location', 'link', 'custom', 'call'];
// @ts-expect-error: not a message type
export const notAType: Message['type'] = 'sticker';
export const role: Schemas['MemberEntry']['role'] = 'owner';
// @ts-expect-error: not a role
export const notARole: Schemas['MemberEntry']['role'] = 'moderator';
export const policy: Schemas['GroupDto']['joinPolicy'] = 'approval';
export const conversationType: Schemas['ConversationDto']['type'] = 'direct';
// @ts-expect-error: not an error code of the contract
export const notACode: Schemas['Problem']['code'] = 'oops';

// Narrowing on `type` gives the content of that type.
export function textOf(m: Message): string | null {
  return m.type === 'text' && m.content ? m.content.text : null;
}
export function fileOf(m: Message): [string, number] | null {
  return m.type === 'file' && m.content ? [m.content.name, m.content.size] : null;
}
export function imageText(m: Message): unknown {
  // @ts-expect-error: an image's content has no text
  return m.type === 'image' && m.content ? m.content.text : null;
}

// Request members are required only where the server requires them.
export const register: Schemas['RegisterRequest'] = { username: 'someone', password: 'long enough password' };
// @ts-expect-error: the password is required
export const registerWithoutPassword: Schemas['RegisterRequest'] = { username: 'someone' };
export const emptyProfilePatch: Schemas['ProfilePatch'] = {};
export const tags: Schemas['ProfilePatch']['tags'] = ['go', 'chess'];
// A problem needs no `errors` or `traceId` (a real 401 has neither).
export const problem: Schemas['Problem'] = { type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'An access token is required.', code: 'unauthorized' };
// The conversation's peerReadSeq (contract) is optional.
export const peerReadSeq: Schemas['ConversationDto']['peerReadSeq'] = undefined;

// The upload is multipart with a `file` part.
type Upload = NonNullable<paths['/api/files']['post']['requestBody']>['content']['multipart/form-data'];
export const upload: Upload = { file: 'bytes' };
// @ts-expect-error: the file part is required
export const uploadWithoutFile: Upload = {};

// Sending: the content must be the one of the type.
type Send = NonNullable<paths['/api/conversations/{id}/messages']['post']['requestBody']>['content']['application/json'];
export const sendText: Send = { clientMsgId: 'c1', type: 'text', content: { text: 'hi' } };
// @ts-expect-error: a location needs latitude and longitude
export const sendBadLocation: Send = { clientMsgId: 'c2', type: 'location', content: { title: 'nowhere' } };

/** Register, create a group, send into it, read it back, log in again, upload and send a file: every answer kept for the test to check. */
export async function scenario(baseUrl: string, username: string, password: string): Promise<Record<string, unknown>> {
  const api = createClient<paths>({ baseUrl });
  const seen: Record<string, unknown> = {};

  const registered = await api.POST('/api/auth/register', { body: { username, password, nickname: 'Generated Client' } });
  if (!registered.data) throw new Error(`register: ${registered.response.status} ${JSON.stringify(registered.error)}`);
  seen.register = registered.data;
  const headers = { Authorization: `Bearer ${registered.data.tokens.accessToken}` };

  const group = await api.POST('/api/groups', { body: { name: 'Generated client group', joinPolicy: 'invite' }, headers });
  if (!group.data) throw new Error(`create group: ${group.response.status} ${JSON.stringify(group.error)}`);
  seen.group = group.data;
  const conversationId = group.data.conversationId;

  const sent = await api.POST('/api/conversations/{id}/messages', {
    params: { path: { id: conversationId } },
    body: { clientMsgId: `gen-${username}-1`, type: 'text', content: { text: 'hello from a generated client' } },
    headers,
  });
  if (!sent.data) throw new Error(`send: ${sent.response.status} ${JSON.stringify(sent.error)}`);
  seen.sent = sent.data;
  seen.sentStatus = sent.response.status;
  seen.sentText = textOf(sent.data);

  const page = await api.GET('/api/conversations/{id}/messages', { params: { path: { id: conversationId }, query: { after: 0, limit: 10 } }, headers });
  if (!page.data) throw new Error(`history: ${page.response.status} ${JSON.stringify(page.error)}`);
  seen.page = page.data;

  const conversations = await api.GET('/api/conversations', { params: { query: { limit: 10 } }, headers });
  seen.conversations = conversations.data;
  seen.conversation = (await api.GET('/api/conversations/{id}', { params: { path: { id: conversationId } }, headers })).data;
  seen.receipts = (await api.GET('/api/conversations/{id}/messages/{seq}/receipts', { params: { path: { id: conversationId, seq: sent.data.seq } }, headers })).data;
  seen.users = (await api.GET('/api/users/search', { params: { query: { q: username, limit: 5 } }, headers })).data;
  seen.me = (await api.PATCH('/api/users/me', { body: { bio: 'typed by openapi-typescript', tags: ['openapi'] }, headers })).data;

  const login = await api.POST('/api/auth/login', { body: { username, password } });
  seen.login = login.data;

  const wrong = await api.POST('/api/auth/login', { body: { username, password: 'not the password at all' } });
  seen.wrongPassword = { status: wrong.response.status, error: wrong.error };

  const anonymous = await api.GET('/api/users/me');
  seen.anonymous = { status: anonymous.response.status, error: anonymous.error };

  const invalid = await api.POST('/api/conversations/{id}/messages', {
    params: { path: { id: conversationId } },
    // A body the types allow but the server refuses (an empty text): the 400 carries `errors`.
    body: { clientMsgId: `gen-${username}-2`, type: 'text', content: { text: '' } },
    headers,
  });
  seen.invalid = { status: invalid.response.status, error: invalid.error };

  const uploaded = await api.POST('/api/files', {
    body: { file: 'plain text bytes from the generated client' },
    bodySerializer: (body) => {
      const form = new FormData();
      form.append('file', new Blob([body.file], { type: 'text/plain' }), 'generated.txt');
      return form;
    },
    headers,
  });
  if (!uploaded.data) throw new Error(`upload: ${uploaded.response.status} ${JSON.stringify(uploaded.error)}`);
  seen.upload = uploaded.data;

  const fileMessage = await api.POST('/api/conversations/{id}/messages', {
    params: { path: { id: conversationId } },
    body: { clientMsgId: `gen-${username}-3`, type: 'file', content: { fileId: uploaded.data.id, name: uploaded.data.name, size: uploaded.data.size } },
    headers,
  });
  if (!fileMessage.data) throw new Error(`send file: ${fileMessage.response.status} ${JSON.stringify(fileMessage.error)}`);
  seen.fileMessage = fileMessage.data;
  seen.fileOf = fileOf(fileMessage.data);
  return seen;
}
