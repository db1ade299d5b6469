/** @typedef {'online' | 'connecting' | 'offline'} ConnectionStatus */
/** @typedef {{type: string, [member: string]: any}} Frame */
/**
 * @typedef {object} SocketOptions
 * @property {import('./api.js').Api} [api] whose server and token to use; default: the default client
 * @property {number} [requestTimeoutMs] how long a request waits for its answer (15000)
 * @property {number} [connectTimeoutMs] how long a connection may take to say hello before it is retried (15000)
 */
export class Socket extends EventTarget {
    /** @param {SocketOptions} [options] */
    constructor(options?: SocketOptions);
    /** @type {ConnectionStatus} */
    status: ConnectionStatus;
    /** @type {Frame | null} the last `hello` */
    hello: Frame | null;
    api: import("./api.js").Api;
    requestTimeoutMs: number;
    connectTimeoutMs: number;
    onOffline: () => void;
    onOnline: () => void;
    start(): void;
    stop(): void;
    /** Test and debugging aid: drop the connection and stay away until resume(). */
    pause(): void;
    resume(): void;
    get isOpen(): boolean;
    /**
     * Fire and forget; false if not connected.
     * @param {Frame} frame
     */
    send(frame: Frame): boolean;
    /**
     * A frame whose answer carries the same ref (sent, messages, or error). Rejects with an Error whose `code` is
     * the server's when refused, without one when the connection is down or the answer did not come in time.
     * @param {Frame} frame
     * @param {number} [timeoutMs]
     * @returns {Promise<Frame>}
     */
    request(frame: Frame, timeoutMs?: number): Promise<Frame>;
    #private;
}
export type ConnectionStatus = "online" | "connecting" | "offline";
export type Frame = {
    type: string;
    [member: string]: any;
};
export type SocketOptions = {
    /**
     * whose server and token to use; default: the default client
     */
    api?: import("./api.js").Api | undefined;
    /**
     * how long a request waits for its answer (15000)
     */
    requestTimeoutMs?: number | undefined;
    /**
     * how long a connection may take to say hello before it is retried (15000)
     */
    connectTimeoutMs?: number | undefined;
};
