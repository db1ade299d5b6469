export class ParleyChat extends HTMLElement {
    static observedAttributes: string[];
    /** @type {(() => Promise<string | Tokens>) | undefined} */
    tokenProvider: (() => Promise<string | Tokens>) | undefined;
    frame: HTMLElement;
    set token(value: string | import("./api.js").Tokens | import("./api.js").Session | null);
    /** The token: a bare access token, a `tokens` object, or the whole `POST /api/admin/users/{id}/tokens` answer. */
    get token(): string | import("./api.js").Tokens | import("./api.js").Session | null;
    /** @param {Session | Tokens | string | null} value */
    setToken(value: Session | Tokens | string | null): void;
    connectedCallback(): void;
    disconnectedCallback(): void;
    /** @param {string} name @param {string | null} old @param {string | null} value */
    attributeChangedCallback(name: string, old: string | null, value: string | null): void;
    #private;
}
export type Client = import("./index.js").Client;
export type Message = import("./index.js").Message;
export type Conversation = import("./index.js").Conversation;
export type Outgoing = import("./index.js").Outgoing;
export type Session = import("./index.js").Session;
export type Tokens = import("./index.js").Tokens;
