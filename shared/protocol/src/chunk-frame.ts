/**
 * Chunks travel as binary websocket frames so their payload (CSV or NDJSON bytes) is never
 * re-encoded. Layout, big-endian:
 *   u8 version (1) | u8 kind (1 = chunk) | u16 id length | u32 seq | u32 rows | id (UTF-8) | payload
 */
const HEADER_BYTES = 12;
const FRAME_VERSION = 1;
const KIND_CHUNK = 1;

export interface ChunkHeader {
  id: string;
  seq: number;
  rows: number;
}

export interface Chunk extends ChunkHeader {
  data: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a chunk header; the frame is this header followed by the payload bytes. */
export function encodeChunkHeader(header: ChunkHeader): Uint8Array {
  const id = encoder.encode(header.id);
  const out = new Uint8Array(HEADER_BYTES + id.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, FRAME_VERSION);
  view.setUint8(1, KIND_CHUNK);
  view.setUint16(2, id.length);
  view.setUint32(4, header.seq);
  view.setUint32(8, header.rows);
  out.set(id, HEADER_BYTES);
  return out;
}

/** Decodes a binary frame; returns undefined when it is not a well-formed chunk frame. */
export function decodeChunkFrame(frame: Uint8Array): Chunk | undefined {
  if (frame.length < HEADER_BYTES) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint8(0) !== FRAME_VERSION || view.getUint8(1) !== KIND_CHUNK) return undefined;
  const idLength = view.getUint16(2);
  if (idLength === 0 || HEADER_BYTES + idLength > frame.length) return undefined;
  let id: string;
  try {
    id = decoder.decode(frame.subarray(HEADER_BYTES, HEADER_BYTES + idLength));
  } catch {
    return undefined;
  }
  return {
    id,
    seq: view.getUint32(4),
    rows: view.getUint32(8),
    data: frame.subarray(HEADER_BYTES + idLength),
  };
}
