// The built-in browser client of `wstool serve`. The page is assembled once from its parts so
// its Content-Security-Policy can name the inline style and script by their SHA-256 hashes: no
// 'unsafe-inline', and a script injected by some bug would not run.
#include "lib/serve_page.h"

#include <openssl/evp.h>

#include <array>
#include <string>

namespace wstool {
namespace {

constexpr std::size_t kSha256Bytes = 32;

constexpr std::string_view kStyle = R"css(
:root { color-scheme: light dark; --muted: #888; --accent: #2b6cb0; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 1rem; max-width: 70rem; }
header { display: flex; align-items: baseline; gap: 1rem; }
h1 { font-size: 1.2rem; margin: 0 0 .5rem; }
h2 { font-size: 1rem; margin: 1rem 0 .3rem; }
form { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin: .3rem 0; }
input, select, button { font: inherit; padding: .2rem .4rem; }
input[type=text] { min-width: 12rem; }
#url { flex: 1 1 20rem; }
#message { flex: 1 1 20rem; }
#status { font-weight: bold; }
#status[data-state=open] { color: #2f855a; }
#status[data-state=closed] { color: #c53030; }
#identity, #rooms { color: var(--muted); }
ol { list-style: none; margin: 0; padding: 0; font: 12px/1.35 ui-monospace, monospace; }
#messages, #log { max-height: 24rem; overflow-y: auto; border: 1px solid var(--muted); padding: .3rem; }
li { white-space: pre-wrap; word-break: break-all; }
li time, li .meta { color: var(--muted); margin-right: .5rem; }
#log li[data-dir=out] .dir { color: var(--accent); }
#log li[data-type=error] code { color: #c53030; }
)css";

constexpr std::string_view kBody = R"html(
<header><h1>wstool serve</h1><span id="status" data-state="idle" data-sent="0" data-received="0">idle</span></header>
<form id="connect-form">
  <input id="url" type="text" aria-label="WebSocket URL" spellcheck="false">
  <input id="user" type="text" placeholder="userId (optional)" aria-label="user id">
  <input id="token" type="password" placeholder="token (optional)" aria-label="token" autocomplete="off">
  <button id="connect" type="submit">Connect</button>
  <button id="disconnect" type="button" disabled>Disconnect</button>
</form>
<p><span id="identity"></span> <span id="rooms" data-rooms=""></span></p>
<form id="room-form">
  <input id="room" type="text" placeholder="room" aria-label="room id" value="lobby">
  <button id="join" type="submit">Join</button>
  <button id="leave" type="button">Leave</button>
</form>
<form id="send-form">
  <select id="kind" aria-label="message type">
    <option value="room_message">room_message</option>
    <option value="broadcast">broadcast</option>
    <option value="echo">echo</option>
    <option value="raw">raw JSON</option>
  </select>
  <input id="message" type="text" placeholder="message" aria-label="message">
  <button id="send" type="submit">Send</button>
</form>
<h2>Messages</h2>
<ol id="messages"></ol>
<h2>Traffic</h2>
<ol id="log"></ol>
)html";

constexpr std::string_view kScript = R"js(
'use strict';
(() => {
  const kMaxEntries = 1000;  // per list; older entries go first
  const params = new URLSearchParams(location.search);
  const el = (id) => document.getElementById(id);
  const status = el('status');
  const log = el('log');
  const messages = el('messages');
  let socket = null;
  let sent = 0;
  let received = 0;
  // roomId -> userIds present, as the server reported them (a list: one user may connect twice)
  const rooms = new Map();
  let autoRoom = params.get('room');
  let autoSend = params.get('send');

  el('url').value = params.get('url') || defaultUrl();
  el('user').value = params.get('user') || params.get('userId') || '';
  el('token').value = params.get('token') || '';
  if (autoRoom) el('room').value = autoRoom;

  function defaultUrl() {
    if (location.protocol !== 'http:' && location.protocol !== 'https:') return 'ws://127.0.0.1:8080/';
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
  }

  function socketUrl() {
    const url = new URL(el('url').value.trim());
    const user = el('user').value.trim();
    const token = el('token').value;
    const session = params.get('session');
    if (user) url.searchParams.set('userId', user);
    if (token) url.searchParams.set('token', token);
    if (session) url.searchParams.set('sessionId', session);
    return url;
  }

  function setState(state, detail) {
    status.dataset.state = state;
    status.textContent = detail ? state + ' (' + detail + ')' : state;
    const open = state === 'open' || state === 'connecting';
    el('connect').disabled = open;
    el('disconnect').disabled = !open;
  }

  function counts() {
    status.dataset.sent = String(sent);
    status.dataset.received = String(received);
  }

  function append(list, item) {
    const follow = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    list.append(item);
    while (list.childElementCount > kMaxEntries) list.firstElementChild.remove();
    if (follow) list.scrollTop = list.scrollHeight;
  }

  function span(className, text) {
    const s = document.createElement('span');
    s.className = className;
    s.textContent = text;
    return s;
  }

  function typeOf(text) {
    try {
      const m = JSON.parse(text);
      if (m && typeof m === 'object' && typeof m.type === 'string') return m.type;
      if (m && typeof m === 'object' && m._ack === true) return 'ack';
      return '';
    } catch (e) {
      return '(not JSON)';
    }
  }

  function logFrame(dir, text, type) {
    const li = document.createElement('li');
    li.dataset.dir = dir;
    li.dataset.type = type === undefined ? typeOf(text) : type;
    li.dataset.frame = text;
    const time = document.createElement('time');
    time.textContent = new Date().toISOString().slice(11, 23);
    const body = document.createElement('code');
    body.textContent = text;
    li.append(time, span('dir', dir === 'in' ? '\u2190 ' : '\u2192 '), body);
    append(log, li);
  }

  function showMessage(kind, m) {
    const content = kind === 'room' ? m.content : m.data;
    const text = typeof content === 'string' ? content : JSON.stringify(content);
    const li = document.createElement('li');
    li.dataset.kind = kind;
    li.dataset.room = typeof m.roomId === 'string' ? m.roomId : '';
    li.dataset.user = typeof m.userId === 'string' ? m.userId : '';
    li.dataset.content = text === undefined ? '' : text;
    const where = kind === 'room' ? '#' + li.dataset.room : kind;
    li.append(span('meta', where + ' ' + (li.dataset.user || '-')), document.createTextNode(li.dataset.content));
    append(messages, li);
  }

  function updateRooms() {
    const names = Array.from(rooms.keys());
    el('rooms').dataset.rooms = names.join(' ');
    const shown = names.map((id) => id + ' (' + rooms.get(id).join(', ') + ')');
    el('rooms').textContent = shown.length ? 'rooms: ' + shown.join('; ') : '';
  }

  function presence(roomId, userId, present) {
    const members = rooms.get(String(roomId));
    if (!members) return;
    const index = members.indexOf(String(userId));
    if (present) members.push(String(userId));
    else if (index >= 0) members.splice(index, 1);
    updateRooms();
  }

  function sendText(text) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      setState(status.dataset.state, 'not connected');
      return false;
    }
    socket.send(text);
    sent += 1;
    counts();
    logFrame('out', text);
    return true;
  }

  const send = (message) => sendText(JSON.stringify(message));

  function sendAuto() {
    if (autoSend === null) return;
    const text = autoSend;
    autoSend = null;
    if (autoRoom) send({ type: 'room_message', roomId: autoRoom, content: text });
    else send({ type: 'echo', data: text });
  }

  function onMessage(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (!m || typeof m !== 'object') return;
    // Reliable delivery: acknowledge what the server asks us to.
    if (m._ack === true && m._id !== undefined && m.type !== 'ack') send({ type: 'ack', _id: m._id });
    switch (m.type) {
      case 'welcome':
        el('identity').dataset.userId = String(m.userId || '');
        el('identity').dataset.sessionId = String(m.sessionId || '');
        el('identity').textContent = 'you are ' + (m.userId || '?');
        break;
      case 'room_joined':
        rooms.set(String(m.roomId), Array.isArray(m.users) ? m.users.map(String) : []);
        updateRooms();
        if (m.roomId === autoRoom) sendAuto();
        break;
      case 'user_joined':
        presence(m.roomId, m.userId, true);
        break;
      case 'user_left':
        presence(m.roomId, m.userId, false);
        break;
      case 'room_message':
        showMessage('room', m);
        break;
      case 'broadcast':
        showMessage('broadcast', m);
        break;
      case 'echo':
        showMessage('echo', m);
        break;
      case 'ping':
        send({ type: 'pong', id: m.id });
        break;
      case 'error':
        status.dataset.lastError = String(m.code || '');
        break;
      default:
        break;
    }
  }

  function connect() {
    if (socket) return;
    let url;
    try {
      url = socketUrl();
    } catch (e) {
      setState('closed', 'bad URL');
      return;
    }
    const shown = new URL(url);
    if (shown.searchParams.has('token')) shown.searchParams.set('token', '[redacted]');
    status.dataset.url = shown.toString();
    setState('connecting', shown.toString());
    delete status.dataset.closeCode;
    socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('open', () => {
      setState('open', shown.toString());
      if (autoRoom) {
        const join = { type: 'join_room', roomId: autoRoom };
        if (params.get('ack') === '1') join.ack = true;
        send(join);
      } else {
        sendAuto();
      }
    });
    socket.addEventListener('message', (event) => {
      received += 1;
      counts();
      if (typeof event.data !== 'string') {
        logFrame('in', '(binary, ' + event.data.byteLength + ' bytes)', 'binary');
        return;
      }
      logFrame('in', event.data);
      onMessage(event.data);
    });
    socket.addEventListener('close', (event) => {
      status.dataset.closeCode = String(event.code);
      setState('closed', event.code + (event.reason ? ' ' + event.reason : ''));
      socket = null;
      rooms.clear();
      updateRooms();
    });
  }

  el('connect-form').addEventListener('submit', (event) => {
    event.preventDefault();
    connect();
  });
  el('disconnect').addEventListener('click', () => {
    if (socket) socket.close(1000, 'bye');
  });
  el('room-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const roomId = el('room').value.trim();
    if (roomId) send({ type: 'join_room', roomId });
  });
  el('leave').addEventListener('click', () => {
    const roomId = el('room').value.trim();
    if (roomId && send({ type: 'leave_room', roomId })) {
      rooms.delete(roomId);
      updateRooms();
    }
  });
  el('send-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = el('message').value;
    const kind = el('kind').value;
    if (kind === 'raw') sendText(text);
    else if (kind === 'room_message') send({ type: 'room_message', roomId: el('room').value.trim(), content: text });
    else send({ type: kind, data: text });
  });

  if ((params.get('connect') && params.get('connect') !== '0') || autoRoom || autoSend !== null) connect();
})();
)js";

std::string sha256_base64(std::string_view text) {
  std::array<unsigned char, kSha256Bytes> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  // 4 output characters per 3 input bytes, and a NUL.
  std::array<unsigned char, 4 * ((kSha256Bytes + 2) / 3) + 1> out{};
  const int written = EVP_EncodeBlock(out.data(), digest.data(), static_cast<int>(size));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(written));
}

// What both the <meta> and the header say. connect-src names schemes, not hosts: the page may
// be pointed (?url=) at another server.
std::string base_policy() {
  return "default-src 'none'; script-src 'sha256-" + sha256_base64(kScript) + "'; style-src 'sha256-" +
         sha256_base64(kStyle) + "'; connect-src ws: wss:; img-src data:; base-uri 'none'; form-action 'none'";
}

struct Page {
  std::string policy;
  std::string html;
};

const Page& page() {
  static const Page built = [] {
    Page p;
    const std::string policy = base_policy();
    p.policy = policy + "; frame-ancestors 'none'";
    p.html.reserve(kStyle.size() + kBody.size() + kScript.size() + policy.size() + 512);
    p.html += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    p.html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    p.html += "<meta http-equiv=\"Content-Security-Policy\" content=\"" + policy + "\">\n";
    p.html += "<title>wstool serve</title>\n<link rel=\"icon\" href=\"data:,\">\n<style>";
    p.html += kStyle;
    p.html += "</style>\n</head>\n<body>";
    p.html += kBody;
    p.html += "<script>";
    p.html += kScript;
    p.html += "</script>\n</body>\n</html>\n";
    return p;
  }();
  return built;
}

}  // namespace

std::string_view serve_page_html() { return page().html; }

std::string_view serve_page_content_security_policy() { return page().policy; }

ws::HttpHeaders serve_page_headers() {
  return {
      {"Content-Security-Policy", page().policy},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-store"},
  };
}

}  // namespace wstool
