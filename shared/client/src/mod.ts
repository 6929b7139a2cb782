export { connect, connectDefaults, SluiceClient } from "./client.js";
export type { ConnectOptions, QueryOptions } from "./client.js";
export { QueryStream } from "./query-stream.js";
export type { QueryChunk, QuerySummary } from "./query-stream.js";
export type { CsvRow, RowOf } from "./rows.js";
export type { ConnectionEvent, ConnectionListener, ConnectionState } from "./session.js";
export type { WebSocketConstructor, WebSocketLike, SocketEvent } from "./socket.js";
