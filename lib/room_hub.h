// The server side of the room protocol (man/wstool-protocol.7) as an engine ConnectionHandler:
// rooms and presence, sessions with resume and a dedupe window, acknowledged delivery with
// retries, rate and abuse limits, application pings. `wstool serve` runs it on ws::Server.
//
// Threading: each connection's callbacks run on its worker thread, and its per-connection state
// (a Member, hung off Connection::user_data) is touched only there. Rooms and sessions are
// shared behind one mutex. Fan-out serializes a message once, snapshots the members grouped by
// worker, and posts one task per worker that sends the shared message to its own connections.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "lib/engine.h"
#include "lib/logger.h"
#include "lib/room_protocol.h"

namespace wstool::session {
class SessionWriter;
}  // namespace wstool::session

namespace wstool::room {

inline constexpr std::size_t kDefaultMaxRoomsPerConnection = 100;
inline constexpr std::size_t kDefaultMaxRooms = 100000;
inline constexpr double kDefaultRatePerSecond = 100;
inline constexpr double kDefaultBurst = 200;
inline constexpr std::size_t kDefaultAbuseLimit = 100;  // errors per minute
inline constexpr std::chrono::milliseconds kDefaultAckTimeout{2000};
inline constexpr unsigned kDefaultAckRetries = 3;
inline constexpr std::chrono::milliseconds kDefaultDedupeWindow{5 * 60 * 1000};
// Reliable deliveries awaiting an ack on one connection; past this the oldest is given up
// (counted and logged as undelivered) so a client that never acks cannot grow memory.
inline constexpr std::size_t kDefaultMaxPendingDeliveries = 1000;

// What the server counts, for logs and for the metrics exposition (/metrics, /stats). Relaxed
// atomics: written from every worker, read by whoever reports.
struct ServeCounters {
  using Counter = std::atomic<std::uint64_t>;
  // Close codes 1000..1015 have a slot each; anything else shares the last one.
  static constexpr std::size_t kCloseSlots = 17;
  static std::size_t close_slot(std::uint16_t code);
  // The close code a slot counts; 0 for the shared "other" slot.
  static std::uint16_t close_slot_code(std::size_t slot);

  Counter connections{0};         // open now
  Counter connections_opened{0};  // since start
  Counter sessions_resumed{0};
  std::array<Counter, kRequestTypeCount> messages_in{};         // valid requests by type
  std::array<Counter, kServerMessageTypeCount> messages_out{};  // by type, one per receiver
  std::array<Counter, kErrorCodeCount> errors{};                // error messages sent, by code
  std::array<Counter, kCloseSlots> closes{};                    // connections closed, by code
  Counter rate_limited{0};      // requests answered RATE_LIMITED
  Counter duplicates{0};        // retransmitted _ids acknowledged, not processed again
  Counter acks_received{0};     // acknowledgements of reliable deliveries
  Counter ack_retries{0};       // reliable deliveries resent
  Counter undelivered{0};       // reliable deliveries given up (retries exhausted, closed)
  Counter abuse_closes{0};      // closed 1008 for too many errors
  Counter app_ping_timeouts{0};  // closed for not answering an application ping
  Counter rooms{0};             // rooms now
  Counter members{0};           // room memberships now
};

struct HubConfig {
  std::uint64_t max_message_bytes = ws::kDefaultMaxMessageBytes;  // announced in welcome
  std::size_t max_content_bytes = kDefaultMaxContentBytes;
  std::size_t max_rooms_per_connection = kDefaultMaxRoomsPerConnection;
  std::size_t max_rooms = kDefaultMaxRooms;  // 0: no limit
  bool ack_all = false;  // reliable delivery to every member, not only those joining with ack
  std::chrono::milliseconds ack_timeout = kDefaultAckTimeout;
  unsigned ack_retries = kDefaultAckRetries;
  std::size_t max_pending_deliveries = kDefaultMaxPendingDeliveries;
  std::chrono::milliseconds dedupe_window = kDefaultDedupeWindow;
  double rate_per_second = kDefaultRatePerSecond;  // 0: unlimited
  double burst = kDefaultBurst;
  double rate_per_ip = 0;  // 0: off
  std::size_t abuse_limit = kDefaultAbuseLimit;  // 0: off
  bool allow_binary = false;  // binary frames parsed as JSON too
  std::chrono::milliseconds app_ping_interval{0};  // 0: no application pings
  std::chrono::milliseconds app_ping_timeout{10000};
};

class RoomHub : public ws::ConnectionHandler {
 public:
  using PostFn = std::function<void(unsigned worker, std::function<void()> task)>;

  RoomHub(HubConfig config, Logger& log, ServeCounters& counters);
  ~RoomHub() override;
  RoomHub(const RoomHub&) = delete;
  RoomHub& operator=(const RoomHub&) = delete;

  // Before the server runs: how many workers there are and how to run a task on one
  // (ws::Server::post).
  void attach(unsigned worker_count, PostFn post);

  // serve --log-messages: before the server runs, a session log to write every connection's
  // open, messages both ways (a room message once per receiving connection) and close to.
  // `scheme` ("ws" or "wss") completes the URL of open records. Null (the default) logs nothing
  // and costs one pointer test per message.
  void set_message_log(session::SessionWriter* log, std::string scheme);

  // The opening request's query parameters checked (?userId=, ?sessionId=): a 400 refusal when
  // one is malformed, nullopt otherwise.
  static std::optional<ws::Rejection> check_request(const ws::UpgradeRequest& request);

  void on_open(ws::Connection& conn) override;
  void on_message(ws::Connection& conn, std::uint8_t opcode, const std::uint8_t* data,
                  std::size_t size) override;
  void on_close(ws::Connection& conn, const ws::CloseEvent& event) override;
  void on_timer(ws::Connection& conn) override;
  // serve --log-messages: a refused WebSocket handshake (origin, token, query, connection
  // limit) is a refused record (session log 1.4).
  void on_upgrade_refused(std::uint64_t id, const ws::UpgradeRequest* request, const std::string& remote,
                          const ws::Rejection& rejection) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wstool::room
