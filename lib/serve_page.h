// The built-in page `wstool serve` answers GET / with: one self-contained HTML document (inline
// CSS and JS, no external resources) holding a small browser client for the serve protocol.
//
// Scriptable through its own query string, so a test (or a link) can drive it:
//   url=ws://...   WebSocket URL (default: ws:// or wss:// to the page's own host, path /)
//   user=NAME      sent as ?userId=      token=T   sent as ?token=      session=S  as ?sessionId=
//   room=ID        join this room once connected (ack=1 asks for acknowledged delivery)
//   send=TEXT      then send TEXT: a room_message to `room` once joined, else an echo
//   connect=1      connect at load (implied by room or send)
// State a test reads from the DOM (stable ids and data attributes):
//   #status[data-state]      idle | connecting | open | closed; data-url (the WebSocket URL, token
//                            redacted), data-close-code, data-last-error, data-sent,
//                            data-received (frame counts)
//   #identity[data-user-id][data-session-id]   from the welcome message
//   #rooms[data-rooms]       the rooms joined, space-separated
//   #messages > li           one per received room_message / broadcast / echo: data-kind
//                            (room | broadcast | echo), data-room, data-user, data-content
//   #log > li                every frame both ways: data-dir (in | out), data-type, data-frame
//                            (the raw text)
// Untrusted text only ever reaches the DOM through textContent and data attributes.
#pragma once

#include <string_view>

#include "lib/handshake.h"

namespace wstool {

// The page, built once (thread-safe): its <meta> Content-Security-Policy allows exactly its own
// inline script and style by SHA-256 hash, and WebSocket connections.
std::string_view serve_page_html();

// The Content-Security-Policy the page needs, with what a <meta> cannot say (frame-ancestors).
std::string_view serve_page_content_security_policy();

// Headers to send with the page: Content-Security-Policy, X-Content-Type-Options: nosniff,
// Referrer-Policy: no-referrer (the URL may hold ?token=), Cache-Control: no-store. The
// Content-Type is kServePageContentType.
ws::HttpHeaders serve_page_headers();

inline constexpr std::string_view kServePageContentType = "text/html; charset=utf-8";

}  // namespace wstool
