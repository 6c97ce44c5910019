// RoomHub: rooms, presence, sessions, acknowledged delivery and limits for `wstool serve`.
// Lock order: mutex_ (rooms, sessions) before a Session's own mutex; ip_mutex_ alone.
#include "lib/room_hub.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lib/room_limits.h"
#include "lib/session_log.h"
#include "lib/units.h"

namespace wstool::room {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kAbuseWindow{60 * 1000};
// Dedupe entries per session; the rate limit keeps real clients far below it.
constexpr std::size_t kMaxDedupeEntries = 100000;
// Sessions kept for resume after their connection closed; the oldest go first beyond it.
constexpr std::size_t kMaxDetachedSessions = 100000;
constexpr std::size_t kSessionIdWords = 4;  // 4 x 32 random bits
// Session ids are secrets (they resume a session): logs show only this much of them.
constexpr std::size_t kLoggedSessionIdChars = 8;
constexpr Clock::time_point kNever = Clock::time_point::max();
// A worker's reply buffer grown past this by a big echo is given back rather than kept.
constexpr std::size_t kKeptReplyBytes = 64 * 1024;

void add(ServeCounters::Counter& counter, std::uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}
void sub(ServeCounters::Counter& counter, std::uint64_t n = 1) {
  counter.fetch_sub(n, std::memory_order_relaxed);
}

template <class Enum>
std::size_t index(Enum value) {
  return static_cast<std::size_t>(value);
}

// "127.0.0.1:5000" -> "127.0.0.1", "[::1]:80" -> "::1".
std::string ip_of(const std::string& remote) {
  if (!remote.empty() && remote.front() == '[') {
    const std::size_t end = remote.find(']');
    return end == std::string::npos ? remote : remote.substr(1, end - 1);
  }
  const std::size_t colon = remote.rfind(':');
  return colon == std::string::npos ? remote : remote.substr(0, colon);
}

// Unpredictable (std::random_device is the OS's generator on Linux): a session id is what
// resumes a session, so guessing one must be impractical.
std::string new_session_id() {
  std::random_device random;
  std::string id;
  for (std::size_t i = 0; i < kSessionIdWords; ++i) id += fmt::format("{:08x}", random());
  return id;
}

std::string short_session(const std::string& id) {
  return id.size() <= kLoggedSessionIdChars ? id : id.substr(0, kLoggedSessionIdChars) + "...";
}

milliseconds until(Clock::time_point due, Clock::time_point now) {
  if (due <= now) return milliseconds(1);
  // Round up so the timer never fires before the deadline.
  return std::max(milliseconds(1), std::chrono::ceil<milliseconds>(due - now));
}

struct Target {
  std::uint64_t conn_id;
  bool reliable;
};

// A room's members grouped by worker: what a fan-out needs, shared by every message sent to the
// room until its membership changes.
struct Audience {
  std::vector<std::vector<Target>> by_worker;
  bool any_reliable = false;
};

struct RoomEntry {
  std::uint64_t conn_id;
  unsigned worker;
  bool reliable;
  std::string user_id;
};

struct Room {
  std::vector<RoomEntry> members;  // in join order
  std::shared_ptr<const Audience> audience;  // built on demand, dropped when members change
};

struct Session {
  Session(std::string session_id, std::string user, milliseconds window)
      : id(std::move(session_id)), user_id(std::move(user)), dedupe(window, kMaxDedupeEntries) {}
  const std::string id;
  const std::string user_id;
  std::mutex mutex;  // guards what follows
  DedupeWindow dedupe;
  std::uint64_t owner = 0;  // the connection attached to it; 0 when detached
  unsigned owner_worker = 0;
  std::vector<std::pair<std::string, bool>> rooms;  // room id, reliable: what a resume rejoins
  Clock::time_point detached_at{};
};

struct Pending {
  ws::SharedMessagePtr message;
  unsigned resends = 0;
  Clock::time_point due;
};

// One connection's state; only its own worker thread touches it.
struct Member {
  ws::Connection* conn = nullptr;
  std::string user_id;
  std::string ip;
  std::shared_ptr<Session> session;
  std::vector<std::pair<std::string, bool>> rooms;  // joined: room id, reliable
  TokenBucket bucket;
  EventWindow errors{0, kAbuseWindow};
  std::map<std::uint64_t, Pending> pending;  // reliable deliveries by delivery id, oldest first
  std::uint64_t app_ping_id = 0;
  Clock::time_point next_app_ping = kNever;
  Clock::time_point app_pong_due = kNever;
  Clock::time_point timer_at = kNever;
  bool closing = false;
};

// Owns its connections' Members (user_data points at them), so none outlives the hub.
struct alignas(64) WorkerState {
  std::unordered_map<std::uint64_t, std::unique_ptr<Member>> members;
  // Reused by every message this worker handles, on its thread only: the parsed request, a
  // refusal's reason and the echo reply keep their buffers instead of allocating per message.
  Request request;
  ParseFailure failure;
  std::string reply;
};

struct IpState {
  TokenBucket bucket;
  std::size_t connections = 0;
};

}  // namespace

std::size_t ServeCounters::close_slot(std::uint16_t code) {
  constexpr std::uint16_t kFirst = 1000;
  if (code >= kFirst && code < kFirst + kCloseSlots - 1) return static_cast<std::size_t>(code - kFirst);
  return kCloseSlots - 1;
}

std::uint16_t ServeCounters::close_slot_code(std::size_t slot) {
  constexpr std::uint16_t kFirst = 1000;
  return slot + 1 < kCloseSlots ? static_cast<std::uint16_t>(kFirst + slot) : std::uint16_t{0};
}

struct RoomHub::Impl {
  Impl(HubConfig hub_config, Logger& logger, ServeCounters& serve_counters)
      : config(std::move(hub_config)), log(logger), counters(serve_counters) {
    limits.max_content_bytes = config.max_content_bytes;
  }

  HubConfig config;
  Logger& log;
  ServeCounters& counters;
  ParseLimits limits;
  PostFn post;
  std::vector<WorkerState> workers;

  std::mutex mutex;  // rooms, sessions, detached
  std::unordered_map<std::string, Room> rooms;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions;
  std::deque<std::pair<Clock::time_point, std::shared_ptr<Session>>> detached;  // oldest first

  std::mutex ip_mutex;
  std::unordered_map<std::string, IpState> ips;

  std::atomic<std::uint64_t> next_user{1};
  std::atomic<std::uint64_t> next_delivery{1};

  session::SessionWriter* message_log = nullptr;  // serve --log-messages; set before the server runs
  std::string log_scheme = "ws";

  void log_frame(const ws::Connection& conn, session::Direction dir, std::uint8_t opcode, std::string_view payload) {
    session::FrameRef f;  // formatted from the caller's buffer, not copied first
    f.conn = conn.id();
    f.t_us = message_log->now_us();
    f.dir = dir;
    f.opcode = opcode;
    f.payload = payload;
    message_log->write(f);
  }

  void log_open(const ws::Connection& conn) {
    session::OpenRecord o;
    o.conn = conn.id();
    o.t_us = message_log->now_us();
    const std::string host = ws::header_value(conn.request().headers, "Host");
    o.url = fmt::format("{}://{}{}", log_scheme, host, conn.request().target);
    o.subprotocol = conn.subprotocol();
    o.extensions = conn.extensions();
    o.request = conn.request().headers;
    message_log->write(o);
  }

  void log_close(const ws::Connection& conn, const ws::CloseEvent& event) {
    // The close frames first (session log 1.3), in the order they went: nothing is delivered
    // after a close here, so the end of the connection is their place.
    const bool peer_sent = event.code != ws::close_code::kAbnormal;
    const bool we_sent = event.sent_code != ws::close_code::kNoStatus || event.clean;
    const std::string peer_payload = peer_sent ? session::close_frame_payload(event.code, event.reason) : std::string();
    const std::string our_payload = we_sent ? session::close_frame_payload(event.sent_code, {}) : std::string();
    if (peer_sent && event.by_peer) log_frame(conn, session::Direction::kClient, ws::opcode::kClose, peer_payload);
    if (we_sent) log_frame(conn, session::Direction::kServer, ws::opcode::kClose, our_payload);
    if (peer_sent && !event.by_peer) log_frame(conn, session::Direction::kClient, ws::opcode::kClose, peer_payload);
    session::CloseRecord c;
    c.conn = conn.id();
    c.t_us = message_log->now_us();
    const bool abnormal = event.code == ws::close_code::kAbnormal && event.sent_code == ws::close_code::kNoStatus;
    c.by = abnormal ? session::Closer::kNone : event.by_peer ? session::Closer::kClient : session::Closer::kServer;
    c.code = event.by_peer || abnormal ? event.code : event.sent_code;
    c.reason = event.by_peer ? event.reason : "";
    c.clean = event.clean;
    // The answer to the first close, when one came (session log 1.2): a replay expects it.
    if (event.by_peer && we_sent && !abnormal) {
      c.reply_code = event.sent_code;
    } else if (!event.by_peer && peer_sent) {
      c.reply_code = event.code;
      c.reply_reason = event.reason;
    }
    message_log->write(c);
  }

  void info(const std::string& text) {
    if (log.enabled(LogLevel::kInfo)) log.log(LogLevel::kInfo, text);
  }
  void warn(const std::string& text) { log.log(LogLevel::kWarning, text); }

  static Member* member_of(ws::Connection& conn) { return static_cast<Member*>(conn.user_data()); }

  // --- sending on the member's own thread ---

  void send(Member& m, ServerMessageType type, const std::string& text) {
    m.conn->send_text(text);
    if (message_log != nullptr) log_frame(*m.conn, session::Direction::kServer, ws::opcode::kText, text);
    add(counters.messages_out[index(type)]);
  }

  void send_error(Member& m, ErrorCode code, std::string_view message, const json& id, Clock::time_point now) {
    send(m, ServerMessageType::kError, make_error(code, message, id));
    add(counters.errors[index(code)]);
    if (m.errors.record(now) && !m.closing) {
      m.closing = true;
      add(counters.abuse_closes);
      warn(fmt::format("#{} {}: closed (1008): more than {} errors within a minute", m.conn->id(), m.user_id,
                       config.abuse_limit));
      m.conn->close(ws::close_code::kPolicyViolation, "too many invalid messages");
    }
  }

  void arm(Member& m, Clock::time_point due, Clock::time_point now) {
    if (due >= m.timer_at) return;
    m.timer_at = due;
    m.conn->set_timer(until(due, now));
  }

  // --- fan-out ---

  static std::shared_ptr<const Audience> audience_of(Room& room, unsigned worker_count) {
    if (!room.audience) {
      auto audience = std::make_shared<Audience>();
      audience->by_worker.resize(worker_count);
      for (const RoomEntry& entry : room.members) {
        audience->by_worker[entry.worker].push_back({entry.conn_id, entry.reliable});
        audience->any_reliable = audience->any_reliable || entry.reliable;
      }
      room.audience = std::move(audience);
    }
    return room.audience;
  }

  // Sends `plain` (or `reliable`, tracked for acknowledgement, to members who asked for it) to
  // every member of `audience` but `skip`, one task per worker that has any.
  void fan_out(const std::shared_ptr<const Audience>& audience, ServerMessageType type,
               ws::SharedMessagePtr plain, ws::SharedMessagePtr reliable = nullptr,
               std::uint64_t delivery_id = 0, std::uint64_t skip = 0) {
    for (unsigned w = 0; w < audience->by_worker.size(); ++w) {
      if (audience->by_worker[w].empty()) continue;
      post(w, [this, w, audience, type, plain, reliable, delivery_id, skip] {
        deliver(w, *audience, type, *plain, reliable, delivery_id, skip);
      });
    }
  }

  void deliver(unsigned w, const Audience& audience, ServerMessageType type, const ws::SharedMessage& plain,
               const ws::SharedMessagePtr& reliable, std::uint64_t delivery_id, std::uint64_t skip) {
    WorkerState& worker = workers[w];
    const Clock::time_point now = Clock::now();
    session::SessionWriter* const writer = message_log;
    std::uint64_t sent = 0;
    for (const Target& target : audience.by_worker[w]) {
      if (target.conn_id == skip) continue;
      // Looked up afresh each time: a connection may have closed since the snapshot.
      const auto it = worker.members.find(target.conn_id);
      if (it == worker.members.end() || it->second->closing) continue;
      Member& m = *it->second;
      if (target.reliable && reliable) {
        m.conn->send_shared(*reliable);
        track(m, delivery_id, reliable, now);
        if (writer != nullptr) log_frame(*m.conn, session::Direction::kServer, reliable->opcode(), reliable->payload());
      } else {
        m.conn->send_shared(plain);
        if (writer != nullptr) log_frame(*m.conn, session::Direction::kServer, plain.opcode(), plain.payload());
      }
      ++sent;
    }
    add(counters.messages_out[index(type)], sent);
  }

  void track(Member& m, std::uint64_t delivery_id, const ws::SharedMessagePtr& message, Clock::time_point now) {
    if (m.pending.size() >= config.max_pending_deliveries && !m.pending.empty()) {
      add(counters.undelivered);
      warn(fmt::format("#{} {}: delivery {} undelivered: more than {} awaiting acknowledgement", m.conn->id(),
                       m.user_id, m.pending.begin()->first, config.max_pending_deliveries));
      m.pending.erase(m.pending.begin());
    }
    const Clock::time_point due = now + config.ack_timeout;
    m.pending[delivery_id] = Pending{message, 0, due};
    arm(m, due, now);
  }

  void broadcast_to_all(ws::SharedMessagePtr message) {
    for (unsigned w = 0; w < workers.size(); ++w) {
      post(w, [this, w, message] {
        WorkerState& worker = workers[w];
        std::vector<std::uint64_t> ids;
        ids.reserve(worker.members.size());
        for (const auto& [id, member] : worker.members) ids.push_back(id);
        std::uint64_t sent = 0;
        for (const std::uint64_t id : ids) {
          const auto it = worker.members.find(id);
          if (it == worker.members.end() || it->second->closing) continue;
          it->second->conn->send_shared(*message);
          if (message_log != nullptr) {
            log_frame(*it->second->conn, session::Direction::kServer, message->opcode(), message->payload());
          }
          ++sent;
        }
        add(counters.messages_out[index(ServerMessageType::kBroadcast)], sent);
      });
    }
  }

  static ws::SharedMessagePtr shared_text(std::string text) {
    return std::make_shared<const ws::SharedMessage>(ws::opcode::kText, std::move(text));
  }

  // --- rooms (on the member's thread) ---

  static auto find_room(Member& m, const std::string& room_id) {
    return std::find_if(m.rooms.begin(), m.rooms.end(), [&](const auto& r) { return r.first == room_id; });
  }

  void remember_rooms(Member& m) {
    std::lock_guard<std::mutex> lock(m.session->mutex);
    if (m.session->owner == m.conn->id()) m.session->rooms = m.rooms;
  }

  bool join(Member& m, const std::string& room_id, bool reliable, const json& id, Clock::time_point now) {
    std::vector<std::string> users;
    std::shared_ptr<const Audience> audience;
    const auto mine = find_room(m, room_id);
    const bool already = mine != m.rooms.end();
    if (!already && m.rooms.size() >= config.max_rooms_per_connection) {
      send_error(m, ErrorCode::kLimitExceeded,
                 fmt::format("a connection may be in {} rooms at most", config.max_rooms_per_connection), id, now);
      return false;
    }
    bool server_full = false;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto room = rooms.find(room_id);
      if (room == rooms.end() && config.max_rooms > 0 && rooms.size() >= config.max_rooms) {
        server_full = true;
      } else if (room == rooms.end()) {
        room = rooms.emplace(room_id, Room{}).first;
        add(counters.rooms);
      }
      if (!server_full) {
        Room& r = room->second;
        if (already) {
          // Joining again is harmless: it may switch reliable delivery on, and answers again.
          for (RoomEntry& entry : r.members) {
            if (entry.conn_id == m.conn->id() && reliable && !entry.reliable) {
              entry.reliable = true;
              r.audience.reset();
            }
          }
        } else {
          r.members.push_back(RoomEntry{m.conn->id(), m.conn->worker(), reliable, m.user_id});
          r.audience.reset();
          add(counters.members);
          audience = audience_of(r, static_cast<unsigned>(workers.size()));
        }
        users.reserve(r.members.size());
        for (const RoomEntry& entry : r.members) users.push_back(entry.user_id);
      }
    }
    if (server_full) {
      send_error(m, ErrorCode::kLimitExceeded, fmt::format("the server holds {} rooms at most", config.max_rooms), id,
                 now);
      return false;
    }
    if (already) {
      mine->second = mine->second || reliable;
    } else {
      m.rooms.emplace_back(room_id, reliable);
    }
    remember_rooms(m);
    send(m, ServerMessageType::kRoomJoined, make_room_joined(room_id, users));
    if (audience) fan_out(audience, ServerMessageType::kUserJoined, shared_text(make_user_joined(room_id, m.user_id)),
                          nullptr, 0, m.conn->id());
    return true;
  }

  // Leaves one room the member is in; tells the others, and the member when `tell_member`.
  void leave(Member& m, const std::string& room_id, bool tell_member) {
    std::shared_ptr<const Audience> audience;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const auto room = rooms.find(room_id);
      if (room != rooms.end()) {
        auto& members = room->second.members;
        const auto gone = std::remove_if(members.begin(), members.end(),
                                         [&](const RoomEntry& e) { return e.conn_id == m.conn->id(); });
        sub(counters.members, static_cast<std::uint64_t>(members.end() - gone));
        members.erase(gone, members.end());
        room->second.audience.reset();
        if (members.empty()) {
          rooms.erase(room);  // empty rooms disappear
          sub(counters.rooms);
        } else {
          audience = audience_of(room->second, static_cast<unsigned>(workers.size()));
        }
      }
    }
    const auto mine = find_room(m, room_id);
    if (mine != m.rooms.end()) m.rooms.erase(mine);
    if (tell_member) send(m, ServerMessageType::kRoomLeft, make_room_left(room_id));
    if (audience) fan_out(audience, ServerMessageType::kUserLeft, shared_text(make_user_left(room_id, m.user_id)));
  }

  // --- requests ---

  // True when processed (acknowledged if it had an _id); false when answered with an error.
  bool handle(Member& m, const Request& request, Clock::time_point now) {
    switch (request.type) {
      case RequestType::kEcho: {
        std::string& reply = workers[m.conn->worker()].reply;
        reply.clear();
        append_echo(reply, request);
        send(m, ServerMessageType::kEcho, reply);
        // A big echo's buffer is not kept for the small ones after it.
        if (reply.capacity() > kKeptReplyBytes) std::string().swap(reply);
        return true;
      }
      case RequestType::kBroadcast:
        broadcast_to_all(shared_text(make_broadcast(request.data, m.user_id)));
        return true;
      case RequestType::kJoinRoom:
        return join(m, request.room_id, config.ack_all || request.ack, request.id, now);
      case RequestType::kLeaveRoom:
        if (request.room_id.empty()) {
          const auto joined = m.rooms;
          for (const auto& room : joined) leave(m, room.first, true);
          remember_rooms(m);
          return true;
        }
        if (find_room(m, request.room_id) == m.rooms.end()) {
          send_error(m, ErrorCode::kNotInRoom, "not in room " + request.room_id, request.id, now);
          return false;
        }
        leave(m, request.room_id, true);
        remember_rooms(m);
        return true;
      case RequestType::kRoomMessage:
        return room_message(m, request, now);
      case RequestType::kGetRoomInfo: {
        std::vector<std::string> users;
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (const auto room = rooms.find(request.room_id); room != rooms.end()) {
            for (const RoomEntry& entry : room->second.members) users.push_back(entry.user_id);
          }
        }
        send(m, ServerMessageType::kRoomInfo, make_room_info(request.room_id, users));
        return true;
      }
      case RequestType::kPing:
        send(m, ServerMessageType::kPong, make_pong(request.ping_id));
        return true;
      case RequestType::kPong:
        m.app_pong_due = kNever;
        return true;
      case RequestType::kAck:
        // Delivery ids are positive integers; an ack of anything else acknowledges nothing.
        if (request.id.is_number_integer()) {
          const auto delivery = request.id.get<std::int64_t>();
          if (delivery > 0 && m.pending.erase(static_cast<std::uint64_t>(delivery)) > 0) add(counters.acks_received);
        }
        return true;
    }
    return true;
  }

  bool room_message(Member& m, const Request& request, Clock::time_point now) {
    if (find_room(m, request.room_id) == m.rooms.end()) {
      send_error(m, ErrorCode::kNotInRoom, "not in room " + request.room_id + " (join it first)", request.id, now);
      return false;
    }
    std::shared_ptr<const Audience> audience;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const auto room = rooms.find(request.room_id);
      if (room == rooms.end()) return false;  // cannot happen while we are a member
      audience = audience_of(room->second, static_cast<unsigned>(workers.size()));
    }
    auto plain = shared_text(make_room_message(request.room_id, m.user_id, request.content));
    ws::SharedMessagePtr reliable;
    std::uint64_t delivery_id = 0;
    if (audience->any_reliable) {
      delivery_id = next_delivery.fetch_add(1, std::memory_order_relaxed);
      reliable = shared_text(make_room_message(request.room_id, m.user_id, request.content, delivery_id));
    }
    fan_out(audience, ServerMessageType::kRoomMessage, std::move(plain), std::move(reliable), delivery_id);
    return true;
  }

  // Why a request may not run now: "" when it may, else which limit it is over.
  std::string over_rate(Member& m, Clock::time_point now) {
    if (!m.bucket.take(now)) {
      return fmt::format("rate limit exceeded ({}, burst {})", format_rate(config.rate_per_second), config.burst);
    }
    if (config.rate_per_ip <= 0) return {};
    std::lock_guard<std::mutex> lock(ip_mutex);
    const auto it = ips.find(m.ip);
    if (it == ips.end() || it->second.bucket.take(now)) return {};
    return fmt::format("rate limit of this IP address exceeded ({}, burst {})", format_rate(config.rate_per_ip),
                       config.burst);
  }

  void on_message(ws::Connection& conn, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) {
    if (message_log != nullptr) {
      log_frame(conn, session::Direction::kClient, opcode, std::string_view(reinterpret_cast<const char*>(data), size));
    }
    Member* member = member_of(conn);
    if (member == nullptr || member->closing) return;
    Member& m = *member;
    // The time of the read that brought the message: one clock read per read, not per message.
    const Clock::time_point now = conn.event_time();
    if (opcode != ws::opcode::kText && !config.allow_binary) {
      send_error(m, ErrorCode::kInvalidMessage, "binary messages are not accepted: send JSON in text messages",
                 nullptr, now);
      return;
    }
    WorkerState& worker = workers[conn.worker()];
    Request& request = worker.request;
    ParseFailure& failure = worker.failure;
    if (!parse_request(std::string_view(reinterpret_cast<const char*>(data), size), limits, request, failure)) {
      send_error(m, failure.code, failure.message, failure.id, now);
      return;
    }
    add(counters.messages_in[index(request.type)]);
    // Answers to the server (acks, pongs) are never rate limited: limiting them would only
    // cause resends.
    const bool answer = request.type == RequestType::kAck || request.type == RequestType::kPong;
    if (!answer) {
      if (const std::string over = over_rate(m, now); !over.empty()) {
        add(counters.rate_limited);
        send_error(m, ErrorCode::kRateLimited, over, request.id, now);
        return;
      }
    }
    const bool acknowledged = !request.id.is_null() && request.type != RequestType::kAck;
    std::string dedupe_key;
    if (acknowledged) {
      dedupe_key = request.id.dump();
      bool seen = false;
      {
        std::lock_guard<std::mutex> lock(m.session->mutex);
        seen = m.session->dedupe.contains(dedupe_key, now);
      }
      if (seen) {
        add(counters.duplicates);
        send(m, ServerMessageType::kAck, make_ack(request.id));
        return;
      }
    }
    if (!handle(m, request, now) || !acknowledged || m.closing) return;
    {
      std::lock_guard<std::mutex> lock(m.session->mutex);
      m.session->dedupe.record(dedupe_key, now);
    }
    send(m, ServerMessageType::kAck, make_ack(request.id));
  }

  // --- connection lifecycle ---

  // A session by id (resumed) or a new one. Called with `mutex` held.
  std::shared_ptr<Session> attach_session(Member& m, const std::optional<std::string>& wanted,
                                          const std::optional<std::string>& user_param, bool& resumed,
                                          Clock::time_point now) {
    expire_sessions(now);
    if (wanted) {
      const auto found = sessions.find(*wanted);
      if (found != sessions.end()) {
        std::shared_ptr<Session> session = found->second;
        std::lock_guard<std::mutex> lock(session->mutex);
        if (session->owner != 0) {
          // Resumed while its old connection is still open (the client saw a drop the server
          // did not): the new connection takes the session over and the old one is closed.
          const std::uint64_t old = session->owner;
          post(session->owner_worker, [this, worker = session->owner_worker, old] {
            const auto it = workers[worker].members.find(old);
            if (it == workers[worker].members.end()) return;
            it->second->conn->close(ws::close_code::kPolicyViolation, "session resumed by another connection");
          });
        }
        session->owner = m.conn->id();
        session->owner_worker = m.conn->worker();
        resumed = true;
        return session;
      }
    }
    std::string user = user_param ? *user_param
                                  : "user-" + std::to_string(next_user.fetch_add(1, std::memory_order_relaxed));
    std::string id = new_session_id();
    while (sessions.count(id) != 0) id = new_session_id();
    auto session = std::make_shared<Session>(id, std::move(user), config.dedupe_window);
    session->owner = m.conn->id();
    session->owner_worker = m.conn->worker();
    sessions.emplace(id, session);
    return session;
  }

  // Forgets sessions detached for longer than the dedupe window (or beyond the cap). Called
  // with `mutex` held.
  void expire_sessions(Clock::time_point now) {
    while (!detached.empty()) {
      auto& [at, session] = detached.front();
      const bool old = at + config.dedupe_window <= now || detached.size() > kMaxDetachedSessions;
      if (!old) break;
      {
        std::lock_guard<std::mutex> lock(session->mutex);
        // Still detached since then (not resumed meanwhile): forget it.
        if (session->owner == 0 && session->detached_at == at) sessions.erase(session->id);
      }
      detached.pop_front();
    }
  }

  void on_open(ws::Connection& conn) {
    const Clock::time_point now = Clock::now();
    auto member = std::make_unique<Member>();
    Member& m = *member;
    m.conn = &conn;
    m.ip = ip_of(conn.remote_address());
    m.bucket = TokenBucket(config.rate_per_second, config.burst, now);
    m.errors = EventWindow(config.abuse_limit, kAbuseWindow);
    const ws::RequestTarget target = ws::split_target(conn.request().target);
    const auto user_param = ws::query_parameter(target.query, "userId");
    const auto session_param = ws::query_parameter(target.query, "sessionId");
    bool resumed = false;
    std::vector<std::pair<std::string, bool>> rejoin;
    {
      std::lock_guard<std::mutex> lock(mutex);
      m.session = attach_session(m, session_param, user_param && is_valid_name(*user_param) ? user_param : std::nullopt,
                                 resumed, now);
      if (resumed) {
        std::lock_guard<std::mutex> session_lock(m.session->mutex);
        rejoin = m.session->rooms;
      }
    }
    m.user_id = m.session->user_id;
    if (config.rate_per_ip > 0) {
      std::lock_guard<std::mutex> lock(ip_mutex);
      auto [it, inserted] = ips.try_emplace(m.ip);
      if (inserted) it->second.bucket = TokenBucket(config.rate_per_ip, config.burst, now);
      ++it->second.connections;
    }
    conn.set_user_data(&m);
    workers[conn.worker()].members[conn.id()] = std::move(member);
    if (message_log != nullptr) log_open(conn);
    add(counters.connections);
    add(counters.connections_opened);
    if (resumed) add(counters.sessions_resumed);
    info(fmt::format("#{} open {} as {}{} (session {})", conn.id(), conn.remote_address(), m.user_id,
                     resumed ? ", resumed" : "", short_session(m.session->id)));

    Welcome welcome;
    welcome.user_id = m.user_id;
    welcome.session_id = m.session->id;
    welcome.resumed = resumed;
    for (const auto& room : rejoin) welcome.rooms.push_back(room.first);
    welcome.limits.max_message_bytes = config.max_message_bytes;
    welcome.limits.max_content_bytes = config.max_content_bytes;
    welcome.limits.max_rooms_per_connection = config.max_rooms_per_connection;
    welcome.limits.max_rooms = config.max_rooms;
    welcome.limits.rate_per_second = config.rate_per_second;
    welcome.limits.burst = static_cast<std::uint64_t>(config.burst);
    welcome.limits.dedupe_window_ms = static_cast<std::uint64_t>(config.dedupe_window.count());
    welcome.limits.ack_timeout_ms = static_cast<std::uint64_t>(config.ack_timeout.count());
    welcome.limits.ack_retries = config.ack_retries;
    send(m, ServerMessageType::kWelcome, make_welcome(welcome));
    for (const auto& [room, reliable] : rejoin) join(m, room, reliable || config.ack_all, nullptr, now);

    if (config.app_ping_interval.count() > 0) {
      m.next_app_ping = now + config.app_ping_interval;
      arm(m, m.next_app_ping, now);
    }
  }

  void on_timer(ws::Connection& conn) {
    Member* member = member_of(conn);
    if (member == nullptr || member->closing) return;
    Member& m = *member;
    const Clock::time_point now = Clock::now();
    m.timer_at = kNever;
    if (m.app_pong_due <= now) {
      m.closing = true;
      add(counters.app_ping_timeouts);
      info(fmt::format("#{} {}: no pong to the application ping within {}ms", conn.id(), m.user_id,
                       config.app_ping_timeout.count()));
      conn.close(ws::close_code::kGoingAway, "ping timeout");
      return;
    }
    if (m.next_app_ping <= now) {
      send(m, ServerMessageType::kPing, make_ping(++m.app_ping_id));
      if (m.app_pong_due == kNever) m.app_pong_due = now + config.app_ping_timeout;
      m.next_app_ping = now + config.app_ping_interval;
    }
    Clock::time_point next = std::min(m.next_app_ping, m.app_pong_due);
    for (auto it = m.pending.begin(); it != m.pending.end();) {
      Pending& pending = it->second;
      if (pending.due > now) {
        next = std::min(next, pending.due);
        ++it;
        continue;
      }
      if (pending.resends >= config.ack_retries) {
        add(counters.undelivered);
        warn(fmt::format("#{} {}: delivery {} undelivered: no ack after {} resends", conn.id(), m.user_id, it->first,
                         pending.resends));
        it = m.pending.erase(it);
        continue;
      }
      ++pending.resends;
      add(counters.ack_retries);
      conn.send_shared(*pending.message);
      if (message_log != nullptr) {
        log_frame(conn, session::Direction::kServer, pending.message->opcode(), pending.message->payload());
      }
      add(counters.messages_out[index(ServerMessageType::kRoomMessage)]);
      pending.due = now + retry_delay(config.ack_timeout, pending.resends + 1);
      next = std::min(next, pending.due);
      ++it;
    }
    if (next != kNever) arm(m, next, now);
  }

  void on_close(ws::Connection& conn, const ws::CloseEvent& event) {
    if (member_of(conn) == nullptr) return;
    if (message_log != nullptr) log_close(conn, event);
    conn.set_user_data(nullptr);
    auto& owned = workers[conn.worker()].members;
    const auto found = owned.find(conn.id());
    if (found == owned.end()) return;
    const std::unique_ptr<Member> member = std::move(found->second);  // freed when this returns
    owned.erase(found);
    Member& m = *member;
    m.closing = true;
    const Clock::time_point now = Clock::now();
    const auto joined = m.rooms;
    for (const auto& room : joined) leave(m, room.first, false);
    {
      std::lock_guard<std::mutex> lock(mutex);
      {
        std::lock_guard<std::mutex> session_lock(m.session->mutex);
        if (m.session->owner == conn.id()) {
          m.session->owner = 0;
          m.session->rooms = joined;  // what a resume rejoins
          m.session->detached_at = now;
          detached.emplace_back(now, m.session);
        }
      }
      expire_sessions(now);
    }
    if (!m.pending.empty()) {
      add(counters.undelivered, m.pending.size());
      warn(fmt::format("#{} {}: {} delivery(ies) undelivered: the connection closed before acknowledging them",
                       conn.id(), m.user_id, m.pending.size()));
    }
    if (config.rate_per_ip > 0) {
      std::lock_guard<std::mutex> lock(ip_mutex);
      const auto it = ips.find(m.ip);
      if (it != ips.end() && --it->second.connections == 0) ips.erase(it);
    }
    const std::uint16_t code = event.by_peer || event.sent_code == ws::close_code::kNoStatus ? event.code : event.sent_code;
    add(counters.closes[ServeCounters::close_slot(code)]);
    sub(counters.connections);
    info(fmt::format("#{} {} closed: {}{}{}", conn.id(), m.user_id, code, event.reason.empty() ? "" : " " + event.reason,
                     event.error.empty() ? "" : ": " + event.error));
  }
};

RoomHub::RoomHub(HubConfig config, Logger& log, ServeCounters& counters)
    : impl_(std::make_unique<Impl>(std::move(config), log, counters)) {}

RoomHub::~RoomHub() = default;

void RoomHub::attach(unsigned worker_count, PostFn post) {
  impl_->workers = std::vector<WorkerState>(std::max(worker_count, 1u));
  impl_->post = std::move(post);
}

std::optional<ws::Rejection> RoomHub::check_request(const ws::UpgradeRequest& request) {
  const ws::RequestTarget target = ws::split_target(request.target);
  const auto refuse = [](std::string why) {
    ws::Rejection rejection;
    rejection.status = 400;
    rejection.reason = "Bad Request";
    rejection.body = std::move(why) + "\n";
    return rejection;
  };
  if (const auto user = ws::query_parameter(target.query, "userId"); user && !is_valid_name(*user)) {
    return refuse("userId must be 1-128 printable characters");
  }
  if (const auto session = ws::query_parameter(target.query, "sessionId"); session && !is_valid_name(*session)) {
    return refuse("sessionId must be 1-128 printable characters");
  }
  return std::nullopt;
}

void RoomHub::set_message_log(session::SessionWriter* log, std::string scheme) {
  impl_->message_log = log;
  impl_->log_scheme = std::move(scheme);
}

void RoomHub::on_open(ws::Connection& conn) { impl_->on_open(conn); }

void RoomHub::on_message(ws::Connection& conn, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) {
  impl_->on_message(conn, opcode, data, size);
}

void RoomHub::on_close(ws::Connection& conn, const ws::CloseEvent& event) { impl_->on_close(conn, event); }

void RoomHub::on_timer(ws::Connection& conn) { impl_->on_timer(conn); }

void RoomHub::on_upgrade_refused(std::uint64_t id, const ws::UpgradeRequest* request, const std::string& /*remote*/,
                                 const ws::Rejection& rejection) {
  session::SessionWriter* const log = impl_->message_log;
  // Plain HTTP requests and unparsable ones are no handshake a replay could make again.
  if (log == nullptr || request == nullptr ||
      !ws::list_has_token(ws::header_value(request->headers, "Upgrade"), "websocket")) {
    return;
  }
  session::RefusedRecord r;
  r.conn = id;
  r.t_us = log->now_us();
  r.url = fmt::format("{}://{}{}", impl_->log_scheme, ws::header_value(request->headers, "Host"), request->target);
  r.request = request->headers;
  r.status = rejection.status;
  r.reason = rejection.reason;
  r.response = rejection.headers;
  r.body = rejection.body;
  log->write(r);
}

}  // namespace wstool::room
