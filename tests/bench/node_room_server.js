// node_room_server.js: the Node `ws` reference server scripts/bench-serve compares `wstool serve`
// with — the room protocol of man/wstool-protocol.7, the subset the benchmark drives, written as
// a Node developer would (one JSON.stringify per fan-out, ws.send to each member), not tuned.
//
// Usage: node tests/bench/node_room_server.js [--host 127.0.0.1] [--port 0]
// Prints `listening on ws://HOST:PORT` once listening, like wstool. `ws` is found through
// NODE_PATH (scripts/bench-serve installs it into build/bench-node).
'use strict';

const crypto = require('crypto');
const { WebSocketServer, WebSocket } = require('ws');

const kProtocolVersion = 1;
const kMaxPayloadBytes = 1024 * 1024;
const kMaxNameChars = 128;

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = option('--host', '127.0.0.1');
const port = Number(option('--port', '0'));

// roomId -> Map(ws -> userId)
const rooms = new Map();
let connectionCount = 0;

function sendJson(ws, message) {
  ws.send(JSON.stringify(message));
}

function sendError(ws, code, text) {
  sendJson(ws, { type: 'error', code, message: text });
}

// One serialization, one send per open member (optionally skipping one).
function sendToRoom(room, message, except) {
  const text = JSON.stringify(message);
  for (const member of room.keys()) {
    if (member !== except && member.readyState === WebSocket.OPEN) member.send(text);
  }
}

function validRoomId(roomId) {
  return typeof roomId === 'string' && roomId.length >= 1 && roomId.length <= kMaxNameChars &&
    !/[\u0000-\u001f\u007f]/.test(roomId);
}

function join(ws, roomId) {
  let room = rooms.get(roomId);
  if (!room) {
    room = new Map();
    rooms.set(roomId, room);
  }
  if (!room.has(ws)) {
    room.set(ws, ws.userId);
    ws.rooms.add(roomId);
    sendToRoom(room, { type: 'user_joined', roomId, userId: ws.userId }, ws);
  }
  sendJson(ws, { type: 'room_joined', roomId, users: Array.from(room.values()) });
}

function leave(ws, roomId) {
  const room = rooms.get(roomId);
  if (!room || !room.has(ws)) return;
  room.delete(ws);
  ws.rooms.delete(roomId);
  if (room.size === 0) {
    rooms.delete(roomId);
  } else {
    sendToRoom(room, { type: 'user_left', roomId, userId: ws.userId });
  }
}

function handle(ws, message) {
  switch (message.type) {
    case 'echo':
      sendJson(ws, { type: 'echo', data: message.data });
      break;
    case 'broadcast': {
      const text = JSON.stringify({ type: 'broadcast', data: message.data, userId: ws.userId });
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) client.send(text);
      }
      break;
    }
    case 'join_room':
    case 'join':
      if (!validRoomId(message.roomId)) return sendError(ws, 'INVALID_MESSAGE', 'roomId must be 1-128 printable characters');
      join(ws, message.roomId);
      break;
    case 'leave_room':
    case 'leave':
      if (message.roomId === undefined) {
        for (const roomId of Array.from(ws.rooms)) leave(ws, roomId);
      } else {
        if (!validRoomId(message.roomId)) return sendError(ws, 'INVALID_MESSAGE', 'roomId must be 1-128 printable characters');
        if (!ws.rooms.has(message.roomId)) return sendError(ws, 'NOT_IN_ROOM', 'not in room ' + message.roomId);
        leave(ws, message.roomId);
        sendJson(ws, { type: 'room_left', roomId: message.roomId });
      }
      break;
    case 'room_message':
    case 'message': {
      if (!validRoomId(message.roomId) || message.content === undefined) {
        return sendError(ws, 'INVALID_MESSAGE', 'room_message needs roomId and content');
      }
      const room = rooms.get(message.roomId);
      if (!room || !room.has(ws)) return sendError(ws, 'NOT_IN_ROOM', 'not in room ' + message.roomId);
      sendToRoom(room, { type: 'room_message', roomId: message.roomId, userId: ws.userId, content: message.content });
      break;
    }
    case 'get_room_info': {
      if (!validRoomId(message.roomId)) return sendError(ws, 'INVALID_MESSAGE', 'roomId must be 1-128 printable characters');
      const room = rooms.get(message.roomId);
      const users = room ? Array.from(room.values()) : [];
      sendJson(ws, { type: 'room_info', roomId: message.roomId, userCount: users.length, users });
      break;
    }
    case 'ping':
      sendJson(ws, message.id === undefined ? { type: 'pong' } : { type: 'pong', id: message.id });
      break;
    default:
      sendError(ws, 'UNKNOWN_TYPE', 'unknown message type');
  }
}

const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: kMaxPayloadBytes });

wss.on('listening', () => {
  process.stdout.write(`listening on ws://${host}:${wss.address().port}\n`);
});

wss.on('connection', (ws, req) => {
  const query = new URL(req.url, 'http://localhost').searchParams;
  ws.userId = query.get('userId') || `user-${++connectionCount}`;
  ws.sessionId = crypto.randomUUID();
  ws.rooms = new Set();
  sendJson(ws, {
    type: 'welcome',
    message: 'Connected to node reference server',
    userId: ws.userId,
    sessionId: ws.sessionId,
    limits: { maxMessageBytes: kMaxPayloadBytes },
    protocolVersion: kProtocolVersion,
  });

  ws.on('message', (data, isBinary) => {
    if (isBinary) return sendError(ws, 'INVALID_MESSAGE', 'binary frames are not accepted');
    let message;
    try {
      message = JSON.parse(data);
    } catch (e) {
      return sendError(ws, 'PARSE_ERROR', 'not JSON');
    }
    if (message === null || typeof message !== 'object' || typeof message.type !== 'string') {
      return sendError(ws, 'INVALID_MESSAGE', 'a message is an object with a string type');
    }
    handle(ws, message);
  });

  ws.on('close', () => {
    for (const roomId of Array.from(ws.rooms)) leave(ws, roomId);
  });
  ws.on('error', () => {});
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
