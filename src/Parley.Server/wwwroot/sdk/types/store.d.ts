/**
 * @typedef {import('./api.js').User} User
 * @typedef {import('./api.js').Api} Api
 * @typedef {import('./socket.js').Socket} Socket
 * @typedef {import('./socket.js').Frame} Frame
 */
/**
 * @typedef {object} Message
 * @property {string} conversationId
 * @property {number} seq
 * @property {string} clientMsgId
 * @property {string} senderId
 * @property {string} type
 * @property {any} content null once recalled
 * @property {number | null} [replyTo]
 * @property {string[] | null} [mentions]
 * @property {number} sentAt
 * @property {boolean} recalled
 */
/**
 * A conversation as the server lists it, plus what this client keeps about it: `loaded` (its messages are
 * held), `held` (the seq up to which every message is held), `oldest`, `hasOlder`, `typing` (userId -> until).
 * @typedef {object} Conversation
 * @property {string} id
 * @property {'direct' | 'group'} type
 * @property {User} [peer]
 * @property {{id: string, name: string, avatarFileId?: string | null}} [group]
 * @property {number} maxSeq
 * @property {number} readSeq
 * @property {number} [ackSeq]
 * @property {number} unreadCount
 * @property {boolean} mentioned
 * @property {boolean} [muted]
 * @property {Message | null} [lastMessage]
 * @property {number} peerReadSeq how far the peer of a direct conversation has read (0 if unknown)
 * @property {number} [createdAt]
 * @property {boolean} loaded
 * @property {number} held
 * @property {number} oldest
 * @property {boolean} hasOlder
 * @property {Map<string, number>} typing
 */
/**
 * A message on its way: `pending` while it is being sent, `failed` (with the reason) when the server could not
 * be reached; `store.retry(clientMsgId)` sends it again with the same clientMsgId.
 * @typedef {object} Outgoing
 * @property {string} clientMsgId
 * @property {string} conversationId
 * @property {string} type
 * @property {any} content
 * @property {number} [replyTo]
 * @property {string[]} [mentions]
 * @property {'pending' | 'failed'} state
 * @property {Error} [error]
 * @property {number} createdAt
 */
/**
 * @typedef {object} StoreOptions
 * @property {Api} [api] default: the default client
 * @property {() => boolean} [visible] whether the user sees the page (reads are marked only then); default:
 *   `document.visibilityState === 'visible'`
 */
/** A random UUID, also outside secure contexts (where crypto.randomUUID is missing). */
export function newClientMsgId(): string;
export class Store extends EventTarget {
    /**
     * @param {User} me
     * @param {Socket} socket its 'open' and 'frame' events drive catch-up and live updates
     * @param {StoreOptions} [options]
     */
    constructor(me: User, socket: Socket, options?: StoreOptions);
    /** @type {Map<string, Conversation>} */
    conversations: Map<string, Conversation>;
    /** @type {Map<string, Map<number, Message>>} conversationId -> (seq -> message) */
    messages: Map<string, Map<number, Message>>;
    /** @type {Map<string, Promise<User>>} */
    users: Map<string, Promise<User>>;
    /** @type {Map<string, boolean>} userId -> online */
    presence: Map<string, boolean>;
    /** @type {{user: User, remark?: string | null, since?: number, online?: boolean}[]} */
    friends: {
        user: User;
        remark?: string | null;
        since?: number;
        online?: boolean;
    }[];
    /** @type {Map<string, Outgoing>} clientMsgId -> message not yet stored by the server */
    outbox: Map<string, Outgoing>;
    /** @type {string | null} the conversation on screen */
    openId: string | null;
    me: import("./api.js").User;
    socket: import("./socket.js").Socket;
    api: import("./api.js").Api;
    visible: () => boolean;
    /** The connection's state: 'online', 'connecting' or 'offline'. */
    get status(): import("./socket.js").ConnectionStatus;
    /** @param {string} [conversationId] */
    changed(conversationId?: string): void;
    /** @param {string} id @returns {Promise<User>} a public profile, fetched once and kept current by `user.updated` */
    user(id: string): Promise<User>;
    /** @param {User | null | undefined} user */
    remember(user: User | null | undefined): void;
    sortedConversations(): Conversation[];
    loadFriends(): Promise<void>;
    /** Step 1-2 of the catch-up: list conversations, then fetch `after=` what every held conversation lacks. */
    catchUp(): Promise<void>;
    /**
     * Fetches every message after the held seq until hasMore is false (one fetch per conversation at a time).
     * @param {string} id
     * @returns {Promise<void>}
     */
    fetchAfter(id: string): Promise<void>;
    /**
     * Opens a conversation: the first time, the latest page (`before=`), then anything after it.
     * @param {string} id
     */
    open(id: string): Promise<void>;
    /**
     * Loads earlier pages until the conversation holds <seq> (a search result), at most 50 pages of 200.
     * @param {string} id @param {number} seq
     */
    loadBack(id: string, seq: number): Promise<void>;
    /** Scrollback: the page before the oldest seq held. @param {string} id */
    loadOlder(id: string): Promise<void>;
    /** Marks the open conversation read when the page is visible. */
    markRead(): void;
    /**
     * A message from a push, a `sent` answer or another source; new ones update the list entry.
     * @param {Message} m
     */
    apply(m: Message): Promise<void>;
    /**
     * Applies a server frame that is not an answer to a request (the socket's 'frame' events come here).
     * @param {Frame} frame
     */
    handle(frame: Frame): void;
    /**
     * Outgoing messages of a conversation not yet stored by the server, oldest first.
     * @param {string} conversationId
     * @returns {Outgoing[]}
     */
    pending(conversationId: string): Outgoing[];
    /**
     * Sends a message. It is in `outbox` (state `pending`) at once; over the socket when open, else over HTTP. Resolves
     * with the stored message, or with null when the server could not be reached: then it stays in `outbox` as
     * `failed`, for `retry`. Rejects (and drops it from the outbox) when the server refused it (muted, blocked, ...).
     * @param {string} conversationId
     * @param {string} msgType
     * @param {any} content
     * @param {number | null} [replyTo]
     * @param {string[] | null} [mentions] user ids, or ['all']
     * @param {{clientMsgId?: string}} [options] `clientMsgId`: this one instead of a new random one
     * @returns {Promise<Message | null>}
     */
    send(conversationId: string, msgType: string, content: any, replyTo?: number | null, mentions?: string[] | null, options?: {
        clientMsgId?: string;
    }): Promise<Message | null>;
    /**
     * Sends a failed message again, with its clientMsgId: the server stores it at most once.
     * @param {string} clientMsgId
     * @returns {Promise<Message | null>}
     */
    retry(clientMsgId: string): Promise<Message | null>;
    /** Gives up on a failed message (it may still have reached the server; catch-up then shows it). @param {string} clientMsgId */
    discard(clientMsgId: string): void;
    /** @param {string} conversationId @param {number} seq */
    recall(conversationId: string, seq: number): Promise<void>;
    /** @param {string} conversationId @param {number} seq */
    deleteForMe(conversationId: string, seq: number): Promise<void>;
    #private;
}
export type User = import("./api.js").User;
export type Api = import("./api.js").Api;
export type Socket = import("./socket.js").Socket;
export type Frame = import("./socket.js").Frame;
export type Message = {
    conversationId: string;
    seq: number;
    clientMsgId: string;
    senderId: string;
    type: string;
    /**
     * null once recalled
     */
    content: any;
    replyTo?: number | null | undefined;
    mentions?: string[] | null | undefined;
    sentAt: number;
    recalled: boolean;
};
/**
 * A conversation as the server lists it, plus what this client keeps about it: `loaded` (its messages are
 * held), `held` (the seq up to which every message is held), `oldest`, `hasOlder`, `typing` (userId -> until).
 */
export type Conversation = {
    id: string;
    type: "direct" | "group";
    peer?: import("./api.js").User | undefined;
    group?: {
        id: string;
        name: string;
        avatarFileId?: string | null;
    } | undefined;
    maxSeq: number;
    readSeq: number;
    ackSeq?: number | undefined;
    unreadCount: number;
    mentioned: boolean;
    muted?: boolean | undefined;
    lastMessage?: Message | null | undefined;
    /**
     * how far the peer of a direct conversation has read (0 if unknown)
     */
    peerReadSeq: number;
    createdAt?: number | undefined;
    loaded: boolean;
    held: number;
    oldest: number;
    hasOlder: boolean;
    typing: Map<string, number>;
};
/**
 * A message on its way: `pending` while it is being sent, `failed` (with the reason) when the server could not
 * be reached; `store.retry(clientMsgId)` sends it again with the same clientMsgId.
 */
export type Outgoing = {
    clientMsgId: string;
    conversationId: string;
    type: string;
    content: any;
    replyTo?: number | undefined;
    mentions?: string[] | undefined;
    state: "pending" | "failed";
    error?: Error | undefined;
    createdAt: number;
};
export type StoreOptions = {
    /**
     * default: the default client
     */
    api?: import("./api.js").Api | undefined;
    /**
     * whether the user sees the page (reads are marked only then); default:
     * `document.visibilityState === 'visible'`
     */
    visible?: (() => boolean) | undefined;
};
