// node_ws_load: the minimal Node `ws` client loop scripts/bench-load compares `wstool load`
// with: N connections, K messages in flight on each (closed loop), a fixed payload, replies
// counted after a warmup. Prints one line: "msgs_per_s=X errors=N connections=C".
// Usage: node node_ws_load.js URL CONNECTIONS IN_FLIGHT SIZE DURATION_S WARMUP_S
// (`ws` from NODE_PATH, installed by scripts/bench-load.)
'use strict';
const WebSocket = require('ws');

const [url, connections, inFlight, size, duration, warmup] = process.argv.slice(2);
const kConnections = Number(connections);
const kInFlight = Number(inFlight);
const kSize = Number(size);
const kDurationMs = Number(duration) * 1000;
const kWarmupMs = Number(warmup) * 1000;
const kConnectTimeoutMs = 60000;

const payload = Buffer.alloc(kSize, 'x');
let open = 0;
let errors = 0;
let counting = false;
let counted = 0;
const sockets = [];

function finish() {
  const seconds = kDurationMs / 1000;
  process.stdout.write(`msgs_per_s=${(counted / seconds).toFixed(0)} errors=${errors} connections=${open}\n`);
  for (const ws of sockets) ws.terminate();
  process.exit(0);
}

function startMeasuring() {
  setTimeout(() => {
    counting = true;
    setTimeout(finish, kDurationMs);
  }, kWarmupMs);
}

const giveUp = setTimeout(() => {
  process.stdout.write(`msgs_per_s=0 errors=${errors + 1} connections=${open}\n`);
  process.exit(1);
}, kConnectTimeoutMs);

for (let i = 0; i < kConnections; ++i) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on('open', () => {
    if (++open === kConnections) {
      clearTimeout(giveUp);
      for (const s of sockets) for (let k = 0; k < kInFlight; ++k) s.send(payload);
      startMeasuring();
    }
  });
  ws.on('message', () => {
    if (counting) ++counted;
    ws.send(payload);
  });
  ws.on('error', () => { ++errors; });
}
