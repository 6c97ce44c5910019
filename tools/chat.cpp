// wstool chat: a room-chat client for `wstool serve` (man/wstool-protocol.7), for a person at a
// terminal and for scripts through a pipe. Reconnects, resumes its session, rejoins its rooms and
// resends what the server has not acknowledged (the server's dedupe keeps it from doubling).
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/backoff.h"
#include "lib/client_options.h"
#include "lib/engine.h"
#include "lib/json_limits.h"
#include "lib/units.h"
#include "lib/redact.h"
#include "lib/room_protocol.h"
#include "lib/ws_url.h"
#include "tools/client_link.h"
#include "tools/client_setup.h"
#include "tools/common_options.h"
#include "tools/line_editor.h"
#include "tools/message_format.h"
#include "tools/shutdown_signals.h"
#include "tools/stderr_log.h"
#include "tools/stdin_reader.h"
#include "tools/subcommand.h"

namespace wstool::tools {

namespace {

using nlohmann::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kProg = "wschat";
constexpr milliseconds kInitialBackoff{250};
// Reliable deliveries remembered to drop repeats (an ack that came late makes the server resend).
constexpr std::size_t kSeenDeliveries = 4096;
// Own messages acknowledged before their echo came back, kept to recognise the echo.
constexpr std::size_t kAwaitedEchoes = 1024;
// Lines typed or piped while disconnected, waiting for the connection.
constexpr std::size_t kMaxQueuedLines = 100000;
constexpr const char* kDeliveredMark = "\xe2\x9c\x93";  // ✓

struct ChatOptions {
  std::string url;
  std::string room;
  std::string name;
  ClientOptions client;
  ColorMode color = ColorMode::kAuto;
  nanoseconds wait = std::chrono::seconds(1);
  nanoseconds timeout{0};
  nanoseconds reconnect_max_delay = std::chrono::seconds(30);
  std::uint64_t reconnect_max_attempts = 0;  // 0: no limit
  bool verbose = false;
};

ExitCode fail(const std::string& message, ExitCode code) {
  fmt::print(stderr, "{}: error: {}\n", kProg, message);
  return code;
}

std::string percent_encode(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

// "[HH:MM:SS]", local time.
std::string stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return fmt::format("[{:02}:{:02}:{:02}]", local.tm_hour, local.tm_min, local.tm_sec);
}

// A message's content as a line: strings as they are, anything else as compact JSON.
std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  return content.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A line from the user: a message for the active room, or a command.
struct Command {
  enum class Kind { kSay, kJoin, kLeave, kRooms, kWho, kMsg, kQuit, kHelp, kUnknown };
  Kind kind = Kind::kSay;
  std::string room;
  std::string text;
};

Command parse_line(const std::string& line) {
  Command command;
  if (line.empty() || line[0] != '/' || line.rfind("//", 0) == 0) {
    command.text = line.rfind("//", 0) == 0 ? line.substr(1) : line;  // "//x" says "/x"
    return command;
  }
  const std::size_t space = line.find(' ');
  const std::string verb = line.substr(0, space);
  std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
  while (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
  using Kind = Command::Kind;
  if (verb == "/join" || verb == "/j") {
    command.kind = Kind::kJoin;
    command.room = rest;
  } else if (verb == "/leave" || verb == "/part") {
    command.kind = Kind::kLeave;
    command.room = rest;
  } else if (verb == "/rooms") {
    command.kind = Kind::kRooms;
  } else if (verb == "/who") {
    command.kind = Kind::kWho;
    command.room = rest;
  } else if (verb == "/msg") {
    command.kind = Kind::kMsg;
    const std::size_t gap = rest.find(' ');
    command.room = rest.substr(0, gap);
    command.text = gap == std::string::npos ? "" : rest.substr(gap + 1);
  } else if (verb == "/quit" || verb == "/exit") {
    command.kind = Kind::kQuit;
  } else if (verb == "/help") {
    command.kind = Kind::kHelp;
  } else {
    command.kind = Kind::kUnknown;
    command.text = verb;
  }
  return command;
}

constexpr const char* kHelp =
    "/join ROOM        join ROOM and make it the active room\n"
    "/leave [ROOM]     leave ROOM (default: the active room)\n"
    "/rooms            the rooms this client is in\n"
    "/who [ROOM]       who is in ROOM (default: the active room)\n"
    "/msg ROOM TEXT    say TEXT in ROOM (one of yours) without switching to it\n"
    "/quit             leave and exit\n"
    "//TEXT            say /TEXT\n";

// Where lines go: stdout, or above the prompt at a terminal. Thread-safe.
class Screen {
 public:
  Screen(bool color) : color_(color) {}
  void set_editor(LineEditor* editor) { editor_.store(editor); }

  // Data (messages, presence): stdout.
  void line(const std::string& text) { write(text + "\n", false); }
  // News for people (connected, reconnecting, errors): stderr.
  void notice(const std::string& text) { write(fmt::format("{}: {}\n", kProg, text), true); }
  void error(const std::string& text) { write(fmt::format("{}: error: {}\n", kProg, text), true); }
  void raw_stderr(const std::string& text) { write(text, true); }

  std::string paint(const char* sgr, const std::string& text) const {
    return color_ ? fmt::format("\x1b[{}m{}\x1b[0m", sgr, text) : text;
  }
  // A stable colour per name, so each speaker is recognisable.
  std::string name(const std::string& who) const {
    if (!color_) return who;
    static constexpr const char* kColors[] = {"31", "32", "33", "34", "35", "36"};
    const std::size_t index = std::hash<std::string>{}(who) % (sizeof kColors / sizeof kColors[0]);
    return paint(kColors[index], who);
  }

 private:
  void write(const std::string& text, bool to_stderr) {
    if (LineEditor* editor = editor_.load()) {
      editor->print_above(text);
      return;
    }
    std::FILE* stream = to_stderr ? stderr : stdout;
    std::fwrite(text.data(), 1, text.size(), stream);
    std::fflush(stream);
  }

  bool color_;
  std::atomic<LineEditor*> editor_{nullptr};
};

// Lines from stdin waiting for the connection thread (and for a connection). Thread-safe.
class Inbox {
 public:
  // False when full (the line is dropped, and said so).
  bool push(std::string line) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (lines_.size() >= kMaxQueuedLines) return false;
    lines_.push_back(std::move(line));
    return true;
  }
  std::deque<std::string> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(lines_, {});
  }
  void put_back(std::deque<std::string> lines) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) lines_.push_front(std::move(*it));
  }
  bool empty() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_.empty();
  }
  void finish() { eof_ = true; }
  bool finished() const { return eof_; }

 private:
  mutable std::mutex mutex_;
  std::deque<std::string> lines_;
  std::atomic<bool> eof_{false};
};

enum class EndReason { kNone, kQuit, kInputDone, kTimeout, kSignal };

// The chat session across connections; everything runs on the connection's thread.
class Chat final : public ws::ConnectionHandler {
 public:
  Chat(const ChatOptions& options, Screen& screen, Inbox& inbox, LineEditor* editor)
      : options_(options), screen_(screen), inbox_(inbox), editor_(editor) {
    wanted_rooms_.push_back(options.room);
    active_ = options.room;
  }

  const std::string& session_id() const { return session_id_; }
  bool ended() const { return end_reason_ != EndReason::kNone; }
  EndReason end_reason() const { return end_reason_; }
  bool ever_ready() const { return ever_ready_; }
  bool connection_open() const { return conn_ != nullptr; }
  // Thread-safe: whether lines typed now are handled now (else they wait for a connection).
  bool ready_now() const { return ready_flag_.load(); }
  const ws::CloseEvent& last_close() const { return last_close_; }
  std::size_t undelivered() const { return pending_.size(); }

  void end(EndReason reason, std::uint16_t code) {
    if (end_reason_ == EndReason::kNone) end_reason_ = reason;
    if (conn_ != nullptr && !closing_) {
      closing_ = true;
      conn_->close(code, "");
    }
  }

  // New input (or its end) arrived: handle it if the connection is ready.
  void kick() {
    if (!ready_ || closing_) return;
    std::deque<std::string> lines = inbox_.take();
    while (!lines.empty() && !closing_) {
      std::string line = std::move(lines.front());
      lines.pop_front();
      handle_line(line);
    }
    check_done();
  }

  void on_open(ws::Connection& conn) override {
    conn_ = &conn;
    closing_ = false;
    ready_ = false;
    awaited_echoes_.clear();  // echoes of a previous connection never come on this one
  }

  void on_message(ws::Connection& /*conn*/, std::uint8_t opcode, const std::uint8_t* data,
                  std::size_t size) override {
    if (opcode != ws::opcode::kText) return;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    json message;
    if (parse_untrusted_json(text, message, room::kMaxMessageDepth) || !message.is_object()) {
      screen_.error("the server sent something that is not a protocol message: " + terminal_safe(std::string(text.substr(0, 200))));
      return;
    }
    quiet_since_ = SteadyClock::now();
    try {
      handle_server_message(message);
    } catch (const json::exception&) {
      // A field of the wrong type (users not strings, ...): not the protocol; say so, go on.
      screen_.error("the server sent a malformed " + terminal_safe(message.value("type", json("?")).dump()) + " message");
    }
    check_done();
  }

  void handle_server_message(const json& message) {
    const auto type_field = message.find("type");
    const std::string type = type_field != message.end() && type_field->is_string() ? type_field->get<std::string>() : "";
    if (message.value("_ack", false) && message.contains("_id")) {
      // A reliable delivery: acknowledge it, and drop it if it was seen already.
      send_json(json{{"type", "ack"}, {"_id", message["_id"]}});
      if (!remember_delivery(message["_id"].dump())) return;
    }
    if (type == "welcome") return on_welcome(message);
    if (type == "room_message") return on_room_message(message);
    if (type == "ack") return on_ack(message);
    if (type == "room_joined") return on_room_joined(message);
    if (type == "room_left") {
      const std::string room = message.value("roomId", "");
      print_presence("left #" + terminal_safe(room));
      return;
    }
    if (type == "user_joined" || type == "user_left") {
      const std::string room = message.value("roomId", "");
      if (!is_member(room)) return;
      print_presence(terminal_safe(message.value("userId", "")) + (type == "user_joined" ? " joined #" : " left #") +
                     terminal_safe(room));
      return;
    }
    if (type == "room_info") {
      std::vector<std::string> users = message.value("users", std::vector<std::string>{});
      print_presence("#" + terminal_safe(message.value("roomId", "")) + ": " + join_names(users));
      return;
    }
    if (type == "error") return on_error(message);
    // ping/pong/echo/broadcast: nothing a chat shows.
  }

  void on_close(ws::Connection& /*conn*/, const ws::CloseEvent& event) override {
    conn_ = nullptr;
    ready_ = false;
    ready_flag_ = false;
    last_close_ = event;
  }

  void on_timer(ws::Connection& /*conn*/) override { check_done(); }

 private:
  // --- the server's messages ---

  void on_welcome(const json& message) {
    user_id_ = message.value("userId", "");
    const std::string previous = session_id_;
    session_id_ = message.value("sessionId", "");
    const bool resumed = message.value("resumed", false);
    if (!resumed) {  // a new session (perhaps a restarted server): delivery ids start again
      seen_deliveries_.clear();
      seen_order_.clear();
    }
    if (!ever_ready_) {
      if (options_.verbose || editor_ != nullptr) screen_.notice(fmt::format("connected to {} as {}", redact_url(options_.url), user_id_));
    } else {
      screen_.notice(resumed ? "reconnected (session resumed)" : "reconnected (new session: rooms joined again)");
    }
    // A resumed session is back in its rooms; a new one joins them again.
    const std::vector<std::string> rejoined = resumed ? message.value("rooms", std::vector<std::string>{}) : std::vector<std::string>{};
    for (const std::string& room : wanted_rooms_) {
      if (std::find(rejoined.begin(), rejoined.end(), room) == rejoined.end()) send_join(room);
    }
    ready_ = true;
    ready_flag_ = true;
    ever_ready_ = true;
    // What the server has not acknowledged goes again, with the same ids, before anything new.
    for (const Pending& p : pending_) send_room_message(p.room, p.text, p.id);
    kick();
  }

  void on_room_joined(const json& message) {
    const std::string room = message.value("roomId", "");
    const std::vector<std::string> users = message.value("users", std::vector<std::string>{});
    if (confirmed_.insert(room).second) print_presence("joined #" + terminal_safe(room) + ": " + join_names(users));
  }

  void on_room_message(const json& message) {
    const std::string room = message.value("roomId", "");
    const std::string who = message.value("userId", "");
    const std::string text = content_text(message.contains("content") ? message["content"] : json());
    if (who == user_id_ && swallow_own_echo(room, text)) return;
    print_message(room, who, text, false);
  }

  void on_ack(const json& message) {
    if (!message.contains("_id")) return;
    const json& id = message["_id"];
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->id != id) continue;
      print_message(it->room, user_id_, it->text, true);
      if (!it->echoed) {
        awaited_echoes_.push_back({it->room, it->text});
        if (awaited_echoes_.size() > kAwaitedEchoes) awaited_echoes_.pop_front();
      }
      pending_.erase(it);
      check_done();
      return;
    }
    if (const auto join = joins_.find(id.dump()); join != joins_.end()) joins_.erase(join);
  }

  void on_error(const json& message) {
    const std::string code = message.value("code", "ERROR");
    const std::string text = terminal_safe(message.value("message", ""));
    if (message.contains("_id")) {
      const json& id = message["_id"];
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (it->id != id) continue;
        screen_.error(fmt::format("not delivered to #{}: {}: {} ({})", it->room, code, text, terminal_safe(it->text)));
        pending_.erase(it);
        check_done();
        return;
      }
      if (const auto join = joins_.find(id.dump()); join != joins_.end()) {
        screen_.error(fmt::format("cannot join #{}: {}: {}", join->second, code, text));
        forget_room(join->second);
        joins_.erase(join);
        return;
      }
    }
    screen_.error(code + ": " + text);
  }

  // --- the user's lines ---

  void handle_line(const std::string& line) {
    const Command command = parse_line(line);
    using Kind = Command::Kind;
    switch (command.kind) {
      case Kind::kSay:
        if (command.text.empty()) return;
        if (active_.empty()) {
          screen_.error("not in a room: /join ROOM first");
          return;
        }
        say(active_, command.text);
        return;
      case Kind::kMsg:
        if (command.room.empty() || command.text.empty()) {
          screen_.error("usage: /msg ROOM TEXT");
        } else if (!is_member(command.room)) {
          screen_.error("not in room #" + command.room + " (/join it first)");
        } else {
          say(command.room, command.text);
        }
        return;
      case Kind::kJoin:
        if (!room::is_valid_name(command.room)) {
          screen_.error("usage: /join ROOM (1 to 128 printable characters)");
          return;
        }
        if (!is_member(command.room)) {
          wanted_rooms_.push_back(command.room);
          send_join(command.room);
        } else {
          print_presence("active room: #" + terminal_safe(command.room));
        }
        set_active(command.room);
        return;
      case Kind::kLeave: {
        const std::string room = command.room.empty() ? active_ : command.room;
        if (room.empty() || !is_member(room)) {
          screen_.error(room.empty() ? "not in a room" : "not in room #" + room);
          return;
        }
        send_json(json{{"type", "leave_room"}, {"roomId", room}});
        forget_room(room);
        return;
      }
      case Kind::kRooms: {
        std::string list;
        for (const std::string& room : wanted_rooms_) list += (list.empty() ? "#" : ", #") + terminal_safe(room);
        print_presence("rooms: " + (list.empty() ? std::string("none") : list) +
                       (active_.empty() ? "" : " (active: #" + terminal_safe(active_) + ")"));
        return;
      }
      case Kind::kWho: {
        const std::string room = command.room.empty() ? active_ : command.room;
        if (room.empty()) {
          screen_.error("not in a room: /who ROOM");
          return;
        }
        send_json(json{{"type", "get_room_info"}, {"roomId", room}});
        return;
      }
      case Kind::kQuit:
        end(EndReason::kQuit, ws::close_code::kNormal);
        return;
      case Kind::kHelp:
        screen_.raw_stderr(kHelp);
        return;
      case Kind::kUnknown:
        screen_.error("unknown command " + terminal_safe(command.text) + " (/help lists them)");
        return;
    }
  }

  void say(const std::string& room, const std::string& text) {
    Pending p{json(next_message_id_++), room, text, false};
    send_room_message(p.room, p.text, p.id);
    pending_.push_back(std::move(p));
  }

  // --- helpers ---

  struct Pending {
    json id;
    std::string room;
    std::string text;
    bool echoed = false;  // the server's copy came back (it is shown once, at the ack)
  };

  void send_json(const json& message) {
    if (conn_ == nullptr || closing_) return;
    conn_->send_text(message.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  void send_join(const std::string& room) {
    const std::string id = "join-" + std::to_string(next_join_id_++);
    joins_[json(id).dump()] = room;
    send_json(json{{"type", "join_room"}, {"roomId", room}, {"ack", true}, {"_id", id}});
  }
  void send_room_message(const std::string& room, const std::string& text, const json& id) {
    send_json(json{{"type", "room_message"}, {"roomId", room}, {"content", text}, {"_id", id}});
  }

  // Our own message coming back from the server: shown at its ack instead, so not twice.
  bool swallow_own_echo(const std::string& room, const std::string& text) {
    for (Pending& p : pending_) {
      if (!p.echoed && p.room == room && p.text == text) {
        p.echoed = true;
        return true;
      }
    }
    for (auto it = awaited_echoes_.begin(); it != awaited_echoes_.end(); ++it) {
      if (it->first == room && it->second == text) {
        awaited_echoes_.erase(it);
        return true;
      }
    }
    return false;  // someone else under the same name
  }

  bool remember_delivery(const std::string& id) {
    if (!seen_deliveries_.insert(id).second) return false;
    seen_order_.push_back(id);
    if (seen_order_.size() > kSeenDeliveries) {
      seen_deliveries_.erase(seen_order_.front());
      seen_order_.pop_front();
    }
    return true;
  }

  bool is_member(const std::string& room) const {
    return std::find(wanted_rooms_.begin(), wanted_rooms_.end(), room) != wanted_rooms_.end();
  }
  void forget_room(const std::string& room) {
    wanted_rooms_.erase(std::remove(wanted_rooms_.begin(), wanted_rooms_.end(), room), wanted_rooms_.end());
    confirmed_.erase(room);
    if (active_ == room) set_active(wanted_rooms_.empty() ? "" : wanted_rooms_.back());
  }
  void set_active(const std::string& room) {
    active_ = room;
    if (editor_ != nullptr) editor_->set_prompt(prompt_for(room));
  }

  // "[12:00:00] bob: hi" in the active room, "[12:00:00] #other bob: hi" elsewhere; own
  // messages end with the delivered mark.
  void print_message(const std::string& room, const std::string& who, const std::string& text, bool own) {
    std::string line = stamp() + " ";
    if (room != active_) line += screen_.paint("2", "#" + terminal_safe(room)) + " ";
    line += screen_.name(terminal_safe(who)) + ": " + terminal_safe(text);
    if (own) line += " " + screen_.paint("32", kDeliveredMark);
    screen_.line(line);
  }
  // `text` is terminal-safe already (its parts from the server passed through terminal_safe).
  void print_presence(const std::string& text) { screen_.line(stamp() + " " + screen_.paint("2", "* " + text)); }
  static std::string join_names(const std::vector<std::string>& users) {
    std::string out;
    for (const std::string& user : users) out += (out.empty() ? "" : ", ") + terminal_safe(user);
    return out.empty() ? "nobody" : out;
  }

  // Input over and everything delivered: wait --wait for late messages, then leave.
  void check_done() {
    if (!ready_ || closing_ || conn_ == nullptr) return;
    if (!inbox_.finished() || !inbox_.empty() || !pending_.empty()) return;
    const auto now = SteadyClock::now();
    if (!quiet_since_) quiet_since_ = now;
    const auto until = *quiet_since_ + duration_cast<milliseconds>(options_.wait);
    if (now >= until) {
      end(EndReason::kInputDone, ws::close_code::kNormal);
    } else {
      conn_->set_timer(duration_cast<milliseconds>(until - now) + milliseconds(1));
    }
  }

 public:
  static std::string prompt_for(const std::string& room) { return room.empty() ? "> " : "#" + room + "> "; }

 private:
  const ChatOptions& options_;
  Screen& screen_;
  Inbox& inbox_;
  LineEditor* editor_;
  ws::Connection* conn_ = nullptr;
  bool closing_ = false;
  bool ready_ = false;  // welcome received on the current connection
  bool ever_ready_ = false;
  EndReason end_reason_ = EndReason::kNone;
  ws::CloseEvent last_close_;
  std::string user_id_;
  std::string session_id_;
  std::vector<std::string> wanted_rooms_;  // the rooms we are in (or joining), in join order
  std::set<std::string> confirmed_;        // rooms the server confirmed (room_joined shown)
  std::string active_;
  std::deque<Pending> pending_;            // sent, not yet acknowledged, in order
  std::deque<std::pair<std::string, std::string>> awaited_echoes_;
  std::map<std::string, std::string> joins_;  // join request _id (as JSON) -> room
  std::set<std::string> seen_deliveries_;
  std::deque<std::string> seen_order_;
  std::int64_t next_message_id_ = 1;
  std::uint64_t next_join_id_ = 1;
  std::optional<SteadyClock::time_point> quiet_since_;
  std::atomic<bool> ready_flag_{false};
};

// The URL of one attempt: the user's, plus userId and (to resume) sessionId.
std::string attempt_url(const std::string& base, const std::string& name, const std::string& session_id) {
  std::string url = base;
  char separator = url.find('?') == std::string::npos ? '?' : '&';
  if (!name.empty()) {
    url += separator + std::string("userId=") + percent_encode(name);
    separator = '&';
  }
  if (!session_id.empty()) url += separator + std::string("sessionId=") + percent_encode(session_id);
  return url;
}

// Close codes after which reconnecting cannot help: the server refuses what we do, or another
// connection took the session over.
bool final_close(std::uint16_t code) {
  return code == ws::close_code::kPolicyViolation || code == ws::close_code::kProtocolError ||
         code == ws::close_code::kInvalidPayload || code == ws::close_code::kMessageTooBig;
}

ExitCode run_chat(const ChatOptions& options) {
  if (options.url.empty()) return fail("a URL is required", ExitCode::kUsage);
  if (options.room.empty()) return fail("--room ROOM is required", ExitCode::kUsage);
  ws::WsUrl url;
  std::string error;
  if (!ws::parse_ws_url(options.url, url, error)) return fail(options.url + ": " + error, ExitCode::kUsage);
  if (!room::is_valid_name(options.room)) return fail("--room: 1 to 128 printable characters", ExitCode::kUsage);
  if (!options.name.empty() && !room::is_valid_name(options.name)) {
    return fail("--name: 1 to 128 printable characters", ExitCode::kUsage);
  }
  if (options.url.find('#') != std::string::npos) return fail(options.url + ": no fragment allowed", ExitCode::kUsage);

  ws::ClientConfig config;
  if (Error setup_error = make_client_config(options.client, options.url, url, true, config)) {
    return fail(setup_error.message, exit_code_for(setup_error.code));
  }

  const bool stdin_tty = isatty(STDIN_FILENO) == 1;
  const bool stdout_tty = isatty(STDOUT_FILENO) == 1;
  Screen screen(color_enabled(options.color, stdout_tty, std::getenv("NO_COLOR")));
  StderrLog log(kProg, options.verbose ? LogLevel::kInfo : LogLevel::kWarning);
  Link link;
  Inbox inbox;

  std::mutex hooks_mutex;
  std::function<void(int)> on_signal;
  std::function<void()> on_deadline;
  ShutdownSignals signals([&](int signo) {
    std::lock_guard<std::mutex> lock(hooks_mutex);
    if (on_signal) on_signal(signo);
  });

  std::unique_ptr<LineEditor> editor;
  if (stdin_tty && stdout_tty) {
    editor = std::make_unique<LineEditor>(Chat::prompt_for(options.room), LineEditor::history_path("chat_history"));
    screen.set_editor(editor.get());
  }
  Chat chat(options, screen, inbox, editor.get());
  auto kick = [&link, &chat] { link.post([&chat] { chat.kick(); }); };

  // Ends the session: closes an open connection, abandons one still connecting, wakes a wait.
  auto stop_all = [&](EndReason reason, std::uint16_t code) {
    link.stop();
    link.post([&chat, reason, code] { chat.end(reason, code); });
    link.abandon_if_connecting([&chat] { return chat.connection_open(); }, code);
  };

  StdinReader reader(
      InputMode::kLines, editor.get(),
      [&](std::string line) {
        if ((line == "/quit" || line == "/exit") && editor && !chat.ready_now()) {
          // A person leaving while disconnected leaves at once; a script's /quit waits its turn.
          stop_all(EndReason::kQuit, ws::close_code::kNormal);
          return false;
        }
        if (!inbox.push(std::move(line))) screen.error("too many lines waiting for the connection; line dropped");
        kick();
        return true;
      },
      [&] {
        inbox.finish();
        kick();
      });
  {
    std::lock_guard<std::mutex> lock(hooks_mutex);
    on_signal = [&stop_all](int) { stop_all(EndReason::kSignal, ws::close_code::kGoingAway); };
    on_deadline = [&stop_all] { stop_all(EndReason::kTimeout, ws::close_code::kNormal); };
  }
  Deadline deadline(options.timeout, [&] {
    std::lock_guard<std::mutex> lock(hooks_mutex);
    if (on_deadline) on_deadline();
  });

  std::mt19937_64 random(std::random_device{}());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Backoff backoff(kInitialBackoff, duration_cast<milliseconds>(options.reconnect_max_delay),
                  [&] { return uniform(random); });
  std::uint64_t failures = 0;
  ExitCode code = ExitCode::kOk;
  for (;;) {
    config.url = attempt_url(options.url, options.name, chat.session_id());
    ws::ClientResult result;
    {
      ws::Client client(config, chat, log);
      result = link.run(client);
    }
    if (link.stopped() || chat.ended()) break;
    const std::string where = redact_url(options.url);
    if (result.error && !chat.ever_ready()) {
      // The first connection failed: say exactly why (a refusal with the server's answer).
      code = fail(where + ": " + result.error.message, exit_code_for(result.error.code));
      if (result.error.code == Errc::kHandshakeRejected) screen.raw_stderr(describe_refusal(result.response));
      break;
    }
    if (!result.error && final_close(chat.last_close().code)) {
      const ws::CloseEvent& close = chat.last_close();
      code = fail(fmt::format("{}: the server closed the connection with {}{}", where, close.code,
                              close.reason.empty() ? "" : " \"" + terminal_safe(close.reason) + "\""),
                  close.we_failed ? ExitCode::kProtocolError : ExitCode::kIoError);
      break;
    }
    if (result.opened) {
      backoff.reset();
      failures = 0;
    }
    ++failures;
    if (options.reconnect_max_attempts > 0 && failures > options.reconnect_max_attempts) {
      code = fail(fmt::format("{}: connection lost; giving up after {} reconnect attempt(s)", where, failures - 1),
                  ExitCode::kIoError);
      break;
    }
    const milliseconds delay = backoff.next_delay();
    const std::string why = result.error ? result.error.message
                                         : fmt::format("connection closed ({})", chat.last_close().code);
    screen.notice(fmt::format("{}; reconnecting in {} (attempt {})", why, format_duration(delay), failures));
    if (!link.sleep_unless_stopped(delay)) break;
  }
  {
    std::lock_guard<std::mutex> lock(hooks_mutex);
    on_signal = nullptr;
    on_deadline = nullptr;
  }
  reader.stop();
  screen.set_editor(nullptr);
  editor.reset();
  if (chat.undelivered() > 0 && code == ExitCode::kOk) {
    code = fail(fmt::format("{} message(s) not acknowledged by the server", chat.undelivered()), ExitCode::kIoError);
  }
  if (deadline.fired() && !chat.ever_ready()) {
    code = most_basic(code, fail(redact_url(options.url) + ": no connection within --timeout", ExitCode::kTimeout));
  }
  if (signals.received() == SIGINT) code = most_basic(code, ExitCode::kInterrupted);
  return code;
}

}  // namespace

Runner make_chat(CLI::App& app) {
  auto options = std::make_shared<ChatOptions>();
  app.description(
      "Chat in the rooms of a `wstool serve` server: lines you type (or pipe) are messages to the active room, "
      "messages and presence are printed as [time] name: text. Reconnects and resends what was not acknowledged.");
  app.add_option("URL", options->url, "the server's ws:// or wss:// URL");
  app.add_option("--room", options->room, "the room to join first (the active room)")->type_name("ROOM");
  app.add_option("--name", options->name, "your name in the rooms (sent as ?userId=)")->type_name("NAME");
  add_client_options(app, options->client);
  add_color_option(app, options->color);
  add_duration_option(app, "-w,--wait", options->wait,
                      "after the input ends and all is acknowledged, leave once nothing arrived for this long");
  add_duration_option(app, "--timeout", options->timeout, "end the session this long after start (0: never)");
  add_duration_option(app, "--reconnect-max-delay", options->reconnect_max_delay, "longest wait between attempts");
  app.add_option("--reconnect-max-attempts", options->reconnect_max_attempts,
                 "give up after N failed attempts in a row (0: never)")
      ->type_name("N")
      ->transform(decimal_count())
      ->capture_default_str();
  app.add_flag("-v,--verbose", options->verbose, "say on stderr when connected");
  return [options]() -> ExitCode { return run_chat(*options); };
}

}  // namespace wstool::tools
