// The case table. Each case follows the behaviour its Autobahn counterpart sends and expects
// (autobahntestsuite/case/*.py), with one deliberate change: where Autobahn also accepts a TCP
// drop or a late failure ("NON-STRICT"), we demand the strict outcome — a close frame with the
// right code, sent as soon as the offending byte arrives, then the TCP close.
#include "tests/conformance/cases.h"

#include <thread>

namespace conformance {
namespace {

using std::chrono::milliseconds;
using std::chrono::microseconds;

// Autobahn waits a full second where it checks that "nothing happens yet"; a shorter quiet
// window catches the same faults and keeps the suite fast.
constexpr milliseconds kQuiet{150};
constexpr milliseconds kLargeTimeout{60000};
constexpr milliseconds kDeflateTimeout{60000};
// Octet-wise "sync" sends: each byte its own write, a little apart, so each is its own segment.
constexpr Chops kOctets{1, microseconds{0}};
constexpr Chops kOctetsSync{1, microseconds{100}};
constexpr std::size_t kLargeCaseBytes = 4u * 1024u * 1024u;
constexpr int kNormal = 1000;
constexpr int kProtocolError = 1002;
constexpr int kInvalidPayload = 1007;

// Frame-wise "sync": each frame its own write, a little apart.
void send_frames_synced(Peer& p, const std::vector<std::string>& frames) {
  for (const auto& f : frames) {
    p.send_raw(f);
    std::this_thread::sleep_for(milliseconds(2));
  }
}

std::string repeat(std::string_view unit, std::size_t size) {
  std::string s;
  s.reserve(size);
  while (s.size() < size) s.append(unit.substr(0, std::min(unit.size(), size - s.size())));
  return s;
}

std::string binary_payload(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 31 + 7) & 0xFF);
  return s;
}

std::string close_payload(int code, std::string_view reason = {}) {
  std::string s;
  s += static_cast<char>((code >> 8) & 0xFF);
  s += static_cast<char>(code & 0xFF);
  s.append(reason);
  return s;
}

// Sends `payload` and expects it back, then the normal closing handshake.
std::function<void(Peer&)> echo_case(std::uint8_t opcode, std::string payload, Chops chops = {},
                                     std::size_t fragment = 0) {
  return [=](Peer& p) {
    p.send_message(opcode, payload, fragment, chops);
    p.expect_message(opcode, payload);
    p.close_normally();
  };
}

// Sends `frames` (built by the callback, in one write unless `chops` says otherwise), expects
// `echoes` (text), then the connection failed with `code`.
std::function<void(Peer&)> fail_case(std::function<std::vector<std::string>(Peer&)> frames,
                                     std::vector<std::string> echoes, int code, int mode = 0) {
  return [=](Peer& p) {
    auto fs = frames(p);
    if (mode == 2) {
      send_frames_synced(p, fs);
    } else {
      std::string all;
      for (const auto& f : fs) all += f;
      p.send_raw(all, mode == 1 ? kOctetsSync : Chops{});
    }
    for (const auto& e : echoes) p.expect_message(kOpText, e);
    p.expect_close({code});
  };
}

const std::string kHello = "Hello, world!";

// UTF-8 test vectors from Markus Kuhn's decoder stress test, grouped as Autobahn's 6.5-6.23.
struct Utf8Group {
  std::vector<std::pair<bool, std::string>> vectors;
};

std::vector<Utf8Group> utf8_groups() {
  std::vector<Utf8Group> g;
  const std::string kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
  g.push_back({{{true, "hello\x24world"}, {true, "hello\xC2\xA2world"}, {true, "hello\xE2\x82\xACworld"},
                {true, "hello\xF0\xA4\xAD\xA2world"}, {true, kosme}}});
  Utf8Group prefixes;
  for (std::size_t i = 1; i <= kosme.size(); ++i) {
    bool boundary = i == 2 || i == 5 || i == 7 || i == 9 || i == 11;
    prefixes.vectors.push_back({boundary, kosme.substr(0, i)});
  }
  g.push_back(prefixes);
  g.push_back({{{true, std::string(1, '\0')}, {true, "\xc2\x80"}, {true, "\xe0\xa0\x80"}, {true, "\xf0\x90\x80\x80"}}});
  g.push_back({{{false, "\xf8\x88\x80\x80\x80"}, {false, "\xfc\x84\x80\x80\x80\x80"}}});
  g.push_back({{{true, "\x7f"}, {true, "\xdf\xbf"}, {true, "\xef\xbf\xbf"}, {true, "\xf4\x8f\xbf\xbf"}}});
  g.push_back({{{false, "\xf7\xbf\xbf\xbf"}, {false, "\xfb\xbf\xbf\xbf\xbf"}, {false, "\xfd\xbf\xbf\xbf\xbf\xbf"}}});
  g.push_back({{{true, "\xed\x9f\xbf"}, {true, "\xee\x80\x80"}, {true, "\xef\xbf\xbd"}, {true, "\xf4\x8f\xbf\xbf"},
                {false, "\xf4\x90\x80\x80"}}});
  Utf8Group cont{{{false, "\x80"}, {false, "\xbf"}, {false, "\x80\xbf"}, {false, "\x80\xbf\x80"},
                  {false, "\x80\xbf\x80\xbf"}, {false, "\x80\xbf\x80\xbf\x80"}, {false, "\x80\xbf\x80\xbf\x80\xbf"}}};
  std::string all_cont;
  for (int c = 0x80; c < 0xbf; ++c) all_cont += static_cast<char>(c);
  cont.vectors.push_back({false, all_cont});
  g.push_back(cont);
  Utf8Group lonely;
  for (auto [lo, hi] : std::vector<std::pair<int, int>>{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}}) {
    std::string s;
    for (int c = lo; c < hi; ++c) {
      s += static_cast<char>(c);
      s += ' ';
    }
    lonely.vectors.push_back({false, s});
  }
  g.push_back(lonely);
  std::vector<std::string> missing = {"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
                                      "\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"};
  Utf8Group miss;
  std::string concat;
  for (const auto& m : missing) {
    miss.vectors.push_back({false, m});
    concat += m;
  }
  g.push_back(miss);
  g.push_back({{{false, concat}}});
  g.push_back({{{false, "\xfe"}, {false, "\xff"}, {false, "\xfe\xfe\xff\xff"}}});
  g.push_back({{{false, "\xc0\xaf"}, {false, "\xe0\x80\xaf"}, {false, "\xf0\x80\x80\xaf"}, {false, "\xf8\x80\x80\x80\xaf"},
                {false, "\xfc\x80\x80\x80\x80\xaf"}}});
  g.push_back({{{false, "\xc1\xbf"}, {false, "\xe0\x9f\xbf"}, {false, "\xf0\x8f\xbf\xbf"}, {false, "\xf8\x87\xbf\xbf\xbf"},
                {false, "\xfc\x83\xbf\xbf\xbf\xbf"}}});
  g.push_back({{{false, "\xc0\x80"}, {false, "\xe0\x80\x80"}, {false, "\xf0\x80\x80\x80"}, {false, "\xf8\x80\x80\x80\x80"},
                {false, "\xfc\x80\x80\x80\x80\x80"}}});
  g.push_back({{{false, "\xed\xa0\x80"}, {false, "\xed\xad\xbf"}, {false, "\xed\xae\x80"}, {false, "\xed\xaf\xbf"},
                {false, "\xed\xb0\x80"}, {false, "\xed\xbe\x80"}, {false, "\xed\xbf\xbf"}}});
  g.push_back({{{false, "\xed\xa0\x80\xed\xb0\x80"}, {false, "\xed\xa0\x80\xed\xbf\xbf"}, {false, "\xed\xad\xbf\xed\xb0\x80"},
                {false, "\xed\xad\xbf\xed\xbf\xbf"}, {false, "\xed\xae\x80\xed\xb0\x80"}, {false, "\xed\xae\x80\xed\xbf\xbf"},
                {false, "\xed\xaf\xbf\xed\xb0\x80"}, {false, "\xed\xaf\xbf\xed\xbf\xbf"}}});
  Utf8Group nonchars{{{true, "\xef\xbf\xbe"}, {true, "\xef\xbf\xbf"}}};
  for (char z1 : std::string("\xf0\xf1\xf2\xf3\xf4")) {
    for (char z2 : std::string("\x8f\x9f\xaf\xbf")) {
      if (z1 == '\xf4' && z2 != '\x8f') continue;  // above U+10FFFF
      for (char z3 : std::string("\xbe\xbf")) {
        std::string zz{z1, z2, '\xbf', z3};
        if (zz == "\xf0\x8f\xbf\xbe" || zz == "\xf0\x8f\xbf\xbf") continue;  // overlong
        nonchars.vectors.push_back({true, zz});
      }
    }
  }
  g.push_back(nonchars);
  g.push_back({{{true, "\xef\xbf\xb9"}, {true, "\xef\xbf\xba"}, {true, "\xef\xbf\xbb"}, {true, "\xef\xbf\xbc"},
                {true, "\xef\xbf\xbd"}, {true, "\xef\xbf\xbe"}, {true, "\xef\xbf\xbf"}}});
  return g;
}

// ---- compression test data (sections 12, 13) ----
// Autobahn ships five files; we generate stand-ins of the same kind and size, deterministically.

std::uint32_t next_random(std::uint32_t& state) {
  state = state * 1664525u + 1013904223u;
  return state >> 8;
}

std::string json_data() {
  static const char* names[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"};
  std::uint32_t r = 1;
  std::string s = "[";
  while (s.size() < 194056) {
    auto id = next_random(r) % 100000;
    s += "{\"id\": " + std::to_string(id) + ", \"name\": \"" + names[next_random(r) % 8] + "-" +
         std::to_string(next_random(r) % 1000) + "\", \"active\": " + (next_random(r) % 2 ? "true" : "false") +
         ", \"score\": " + std::to_string(next_random(r) % 10000) + ".5, \"tags\": [\"" + names[next_random(r) % 8] +
         "\", \"" + names[next_random(r) % 8] + "\"]},\n";
  }
  s.resize(194056);
  return s;
}

std::string html_data() {
  std::uint32_t r = 2;
  std::string s = "<!DOCTYPE html>\n<html><head><title>Test</title></head><body>\n";
  while (s.size() < 83531) {
    s += "<div class=\"row row-" + std::to_string(next_random(r) % 50) + "\"><a href=\"/item/" +
         std::to_string(next_random(r) % 100000) + "\">Item " + std::to_string(next_random(r) % 1000) +
         "</a><span class=\"price\">" + std::to_string(next_random(r) % 500) + ".99</span></div>\n";
  }
  s.resize(83531);
  return s;
}

std::string faust_data() {  // German prose in UTF-8 (sent as binary, as Autobahn does)
  static const char* words[] = {"Habe", "nun,", "ach!", "Philosophie,", "Juristerei", "und", "Medizin,",
                                "Und", "leider", "auch", "Theologie", "Durchaus", "studiert,", "mit", "heißem",
                                "Bemühn.", "Da", "steh", "ich", "nun,", "ich", "armer", "Tor!", "Und", "bin",
                                "so", "klug", "als", "wie", "zuvor;", "Größe", "Mädchen", "über"};
  std::uint32_t r = 3;
  std::string s;
  while (s.size() < 222218) {
    s += words[next_random(r) % (sizeof words / sizeof *words)];
    s += next_random(r) % 9 == 0 ? "\n" : " ";
  }
  s.resize(222218);
  return s;
}

std::string bitmap_data() {  // a smooth greyscale picture with a little noise
  std::uint32_t r = 4;
  std::string s(263222, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) {
    std::size_t x = i % 512, y = i / 512;
    s[i] = static_cast<char>(((x + y) / 4 + next_random(r) % 8) & 0xFF);
  }
  return s;
}

std::string pdf_data() {  // mostly already-compressed streams: random bytes between text objects
  std::uint32_t r = 5;
  std::string s;
  while (s.size() < 1042328) {
    s += "obj << /Length 4096 /Filter /FlateDecode >> stream\n";
    for (int i = 0; i < 4096; ++i) s += static_cast<char>(next_random(r) & 0xFF);
    s += "\nendstream endobj\n";
  }
  s.resize(1042328);
  return s;
}

struct TestData {
  std::string bytes;
  bool binary;
};

const TestData& test_data(int which) {
  static const TestData data[] = {{json_data(), false}, {bitmap_data(), true}, {faust_data(), true},
                                  {html_data(), false}, {pdf_data(), true}};
  return data[which];
}

struct MsgSize {
  std::size_t len, count, autofrag;
};
constexpr MsgSize kMsgSizes[] = {
    {16, 1000, 0},       {64, 1000, 0},      {256, 1000, 0},     {1024, 1000, 0},    {4096, 1000, 0},
    {8192, 1000, 0},     {16384, 1000, 0},   {32768, 1000, 0},   {65536, 1000, 0},   {131072, 1000, 0},
    {8192, 1000, 256},   {16384, 1000, 256}, {32768, 1000, 256}, {65536, 1000, 256}, {131072, 1000, 256},
    {131072, 1000, 1024}, {131072, 1000, 4096}, {131072, 1000, 32768},
};
// Message sizes from which 12.x/13.x cases run only in Release builds, and only in full runs.
constexpr std::size_t kFirstReleaseDeflateSize = 8192;
constexpr std::size_t kFirstFullDeflateSize = 32768;

CaseDef::Tier deflate_tier(const MsgSize& m) {
  if (m.len >= kFirstFullDeflateSize) return CaseDef::Tier::kFull;
  if (m.len >= kFirstReleaseDeflateSize) return CaseDef::Tier::kRelease;
  return CaseDef::Tier::kDefault;
}

// Autobahn's 12.x/13.x body: send COUNT messages one at a time, each consecutive slice of the
// test data (wrapping around), and expect each echoed exactly. Declined compression is
// Autobahn's UNIMPLEMENTED: close normally.
std::function<void(Peer&)> deflate_case(int data, MsgSize m) {
  return [=](Peer& p) {
    if (!p.deflate().enabled) {
      p.close_normally();
      return;
    }
    const TestData& td = test_data(data);
    std::uint8_t op = td.binary ? kOpBinary : kOpText;
    std::size_t pos = 0;
    for (std::size_t i = 0; i < m.count; ++i) {
      std::string msg;
      while (msg.size() < m.len) {
        std::size_t take = std::min(m.len - msg.size(), td.bytes.size() - pos);
        msg.append(td.bytes, pos, take);
        pos = (pos + take) % td.bytes.size();
      }
      p.send_message(op, msg, m.autofrag);
      p.expect_message(op, msg);
    }
    p.close_normally();
  };
}

const char* const kDefaultOffer = "permessage-deflate; client_no_context_takeover; client_max_window_bits";

std::vector<CaseDef> build_cases() {
  std::vector<CaseDef> cs;
  auto add = [&](std::string id, std::function<void(Peer&)> run) -> CaseDef& {
    CaseDef def;
    def.id = std::move(id);
    def.run = std::move(run);
    cs.push_back(std::move(def));
    return cs.back();
  };
  auto id = [](int a, int b, int c = 0) {
    return std::to_string(a) + "." + std::to_string(b) + (c ? "." + std::to_string(c) : "");
  };

  // 1 Framing: text and binary messages of the length-encoding boundaries.
  const std::size_t lens[] = {0, 125, 126, 127, 128, 65535, 65536};
  for (int i = 0; i < 7; ++i) add(id(1, 1, i + 1), echo_case(kOpText, std::string(lens[i], '*')));
  add("1.1.8", echo_case(kOpText, std::string(65536, '*'), Chops{997, {}}));
  for (int i = 0; i < 7; ++i) add(id(1, 2, i + 1), echo_case(kOpBinary, std::string(lens[i], '\xfe')));
  add("1.2.8", echo_case(kOpBinary, std::string(65536, '\xfe'), Chops{997, {}}));

  // 2 Pings and pongs.
  auto ping_case = [](std::string payload, Chops chops = {}) {
    return [=](Peer& p) {
      p.send_frame(kOpPing, payload, true, 0, chops);
      p.expect_pong(payload);
      p.close_normally();
    };
  };
  add("2.1", ping_case(""));
  add("2.2", ping_case(kHello));
  add("2.3", ping_case(std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8)));
  add("2.4", ping_case(std::string(125, '\xfe')));
  add("2.5", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpPing, std::string(126, '\xfe'))}; }, {}, kProtocolError));
  add("2.6", ping_case(std::string(125, '\xfe'), kOctetsSync));
  add("2.7", [](Peer& p) {
    p.send_frame(kOpPong, "");
    p.close_normally();  // nothing may answer an unsolicited pong: the next frame is the close
  });
  add("2.8", [](Peer& p) {
    p.send_frame(kOpPong, "unsolicited pong payload");
    p.close_normally();
  });
  add("2.9", [](Peer& p) {
    p.send_frame(kOpPong, "unsolicited pong payload");
    p.send_frame(kOpPing, "ping payload");
    p.expect_pong("ping payload");
    p.close_normally();
  });
  auto ten_pings = [](Chops chops) {
    return [=](Peer& p) {
      for (int i = 0; i < 10; ++i) p.send_frame(kOpPing, "payload-" + std::to_string(i), true, 0, chops);
      for (int i = 0; i < 10; ++i) p.expect_pong("payload-" + std::to_string(i));
      p.close_normally();
    };
  };
  add("2.10", ten_pings({}));
  add("2.11", ten_pings(kOctetsSync));

  // 3 Reserved bits: the connection fails at the frame with RSV set (no deflate negotiated).
  add("3.1", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpText, kHello, true, 1)}; }, {}, kProtocolError));
  auto rsv_then_ping = [](std::uint8_t rsv) {
    return [=](Peer& p) {
      return std::vector<std::string>{p.build_frame(kOpText, kHello), p.build_frame(kOpText, kHello, true, rsv),
                                      p.build_frame(kOpPing, "")};
    };
  };
  add("3.2", fail_case(rsv_then_ping(2), {kHello}, kProtocolError));
  add("3.3", fail_case(rsv_then_ping(3), {kHello}, kProtocolError, 2));
  add("3.4", fail_case(rsv_then_ping(4), {kHello}, kProtocolError, 1));
  add("3.5", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpBinary, std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8), true, 5)}; }, {}, kProtocolError));
  add("3.6", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpPing, kHello, true, 6)}; }, {}, kProtocolError));
  add("3.7", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpClose, close_payload(kNormal), true, 7)}; }, {}, kProtocolError));

  // 4 Reserved opcodes.
  auto reserved_op = [&](int sub, std::uint8_t base) {
    add(id(4, sub, 1), fail_case([=](Peer& p) { return std::vector<std::string>{p.build_frame(base, "")}; }, {}, kProtocolError));
    add(id(4, sub, 2), fail_case([=](Peer& p) { return std::vector<std::string>{p.build_frame(static_cast<std::uint8_t>(base + 1), "reserved opcode payload")}; }, {}, kProtocolError));
    add(id(4, sub, 3), fail_case([=](Peer& p) {
          return std::vector<std::string>{p.build_frame(kOpText, kHello), p.build_frame(static_cast<std::uint8_t>(base + 2), ""), p.build_frame(kOpPing, "")};
        }, {kHello}, kProtocolError));
    add(id(4, sub, 4), fail_case([=](Peer& p) {
          return std::vector<std::string>{p.build_frame(kOpText, kHello), p.build_frame(static_cast<std::uint8_t>(base + 3), "reserved opcode payload"), p.build_frame(kOpPing, "")};
        }, {kHello}, kProtocolError, 2));
    add(id(4, sub, 5), fail_case([=](Peer& p) {
          return std::vector<std::string>{p.build_frame(kOpText, kHello), p.build_frame(static_cast<std::uint8_t>(base + 4), "reserved opcode payload"), p.build_frame(kOpPing, "")};
        }, {kHello}, kProtocolError, 1));
  };
  reserved_op(1, 3);
  reserved_op(2, 11);

  // 5 Fragmentation.
  add("5.1", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpPing, "fragment1", false), p.build_frame(kOpContinuation, "fragment2")}; }, {}, kProtocolError));
  add("5.2", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpPong, "fragment1", false), p.build_frame(kOpContinuation, "fragment2")}; }, {}, kProtocolError));
  auto two_fragments = [](int mode) {
    return [=](Peer& p) {
      std::vector<std::string> fs{p.build_frame(kOpText, "fragment1", false), p.build_frame(kOpContinuation, "fragment2")};
      if (mode == 2) send_frames_synced(p, fs);
      else p.send_raw(fs[0] + fs[1], mode == 1 ? kOctets : Chops{});
      p.expect_message(kOpText, "fragment1fragment2");
      p.close_normally();
    };
  };
  add("5.3", two_fragments(0));
  add("5.4", two_fragments(1));
  add("5.5", two_fragments(2));
  auto ping_between = [](int mode) {
    return [=](Peer& p) {
      std::vector<std::string> fs{p.build_frame(kOpText, "fragment1", false), p.build_frame(kOpPing, "ping payload"),
                                  p.build_frame(kOpContinuation, "fragment2")};
      if (mode == 2) send_frames_synced(p, fs);
      else p.send_raw(fs[0] + fs[1] + fs[2], mode == 1 ? kOctets : Chops{});
      p.expect_pong("ping payload");
      p.expect_message(kOpText, "fragment1fragment2");
      p.close_normally();
    };
  };
  add("5.6", ping_between(0));
  add("5.7", ping_between(1));
  add("5.8", ping_between(2));
  auto orphan_continuation = [](bool fin) {
    return [=](Peer& p) {
      return std::vector<std::string>{p.build_frame(kOpContinuation, "non-continuation payload", fin), p.build_frame(kOpText, "Hello, world!")};
    };
  };
  add("5.9", fail_case(orphan_continuation(true), {}, kProtocolError));
  add("5.10", fail_case(orphan_continuation(true), {}, kProtocolError, 1));
  add("5.11", fail_case(orphan_continuation(true), {}, kProtocolError, 2));
  add("5.12", fail_case(orphan_continuation(false), {}, kProtocolError));
  add("5.13", fail_case(orphan_continuation(false), {}, kProtocolError, 1));
  add("5.14", fail_case(orphan_continuation(false), {}, kProtocolError, 2));
  add("5.15", fail_case([](Peer& p) {
        return std::vector<std::string>{p.build_frame(kOpText, "fragment1", false), p.build_frame(kOpContinuation, "fragment2"),
                                        p.build_frame(kOpContinuation, "fragment3", false), p.build_frame(kOpText, "fragment4")};
      }, {"fragment1fragment2"}, kProtocolError));
  auto twice = [](bool first_fin) {
    return [=](Peer& p) {
      std::vector<std::string> fs;
      for (int i = 0; i < 2; ++i) {
        fs.push_back(p.build_frame(kOpContinuation, "fragment1", first_fin));
        fs.push_back(p.build_frame(kOpText, "fragment2", false));
        fs.push_back(p.build_frame(kOpContinuation, "fragment3"));
      }
      return fs;
    };
  };
  add("5.16", fail_case(twice(false), {}, kProtocolError));
  add("5.17", fail_case(twice(true), {}, kProtocolError));
  add("5.18", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpText, "fragment1", false), p.build_frame(kOpText, "fragment2")}; }, {}, kProtocolError));
  auto pings_in_fragments = [](bool sync) {
    return [=](Peer& p) {
      auto send = [&](std::vector<std::string> fs) {
        if (sync) send_frames_synced(p, fs);
        else {
          std::string all;
          for (auto& f : fs) all += f;
          p.send_raw(all);
        }
      };
      send({p.build_frame(kOpText, "fragment1", false), p.build_frame(kOpContinuation, "fragment2", false),
            p.build_frame(kOpPing, "pongme 1!")});
      p.expect_pong("pongme 1!");  // answered before the message is complete
      send({p.build_frame(kOpContinuation, "fragment3", false), p.build_frame(kOpContinuation, "fragment4", false),
            p.build_frame(kOpPing, "pongme 2!"), p.build_frame(kOpContinuation, "fragment5")});
      p.expect_pong("pongme 2!");
      p.expect_message(kOpText, "fragment1fragment2fragment3fragment4fragment5");
      p.close_normally();
    };
  };
  add("5.19", pings_in_fragments(false));
  add("5.20", pings_in_fragments(true));

  // 6 UTF-8 handling.
  add("6.1.1", echo_case(kOpText, ""));
  add("6.1.2", [](Peer& p) {
    p.send_raw(p.build_frame(kOpText, "", false) + p.build_frame(kOpContinuation, "", false) + p.build_frame(kOpContinuation, ""));
    p.expect_message(kOpText, "");
    p.close_normally();
  });
  add("6.1.3", [](Peer& p) {
    p.send_raw(p.build_frame(kOpText, "", false) + p.build_frame(kOpContinuation, "middle frame payload", false) +
               p.build_frame(kOpContinuation, ""));
    p.expect_message(kOpText, "middle frame payload");
    p.close_normally();
  });
  const std::string hello_utf8 = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!";
  const std::string kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
  add("6.2.1", echo_case(kOpText, hello_utf8));
  add("6.2.2", [=](Peer& p) {
    std::size_t cut = std::string("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4").size();
    p.send_raw(p.build_frame(kOpText, hello_utf8.substr(0, cut), false) + p.build_frame(kOpContinuation, hello_utf8.substr(cut)));
    p.expect_message(kOpText, hello_utf8);
    p.close_normally();
  });
  auto octet_frames = [](std::string payload) {
    return [=](Peer& p) {
      std::string all;
      for (std::size_t i = 0; i < payload.size(); ++i) {
        all += p.build_frame(i == 0 ? kOpText : kOpContinuation, payload.substr(i, 1), i + 1 == payload.size());
      }
      p.send_raw(all);
      p.expect_message(kOpText, payload);
      p.close_normally();
    };
  };
  add("6.2.3", octet_frames(hello_utf8));
  add("6.2.4", octet_frames(kosme));
  const std::string invalid = kosme + "\xed\xa0\x80" + "edited";
  add("6.3.1", fail_case([=](Peer& p) { return std::vector<std::string>{p.build_frame(kOpText, invalid)}; }, {}, kInvalidPayload));
  add("6.3.2", [=](Peer& p) {
    // One-octet frames: the peer must fail on the frame carrying 0xA0 (byte 12), not later.
    const std::size_t bad = kosme.size() + 1;
    std::string prefix;
    for (std::size_t i = 0; i < bad; ++i) prefix += p.build_frame(i == 0 ? kOpText : kOpContinuation, invalid.substr(i, 1), false);
    p.send_raw(prefix);
    p.expect_quiet(kQuiet);
    p.send_frame(kOpContinuation, invalid.substr(bad, 1), false);
    p.expect_close({kInvalidPayload});
  });
  // 6.4.x: fail fast. The valid first part must be accepted silently; the invalid part must fail
  // the connection at once, before the rest is sent.
  auto fail_fast_frames = [](std::string part1, std::string part2) {
    return [=](Peer& p) {
      p.send_frame(kOpText, part1, false);
      p.expect_quiet(kQuiet);
      p.send_frame(kOpContinuation, part2, false);
      p.expect_close({kInvalidPayload});
    };
  };
  auto fail_fast_chops = [](std::string part1, std::string part2, std::string part3) {
    return [=](Peer& p) {
      std::string frame = p.build_frame(kOpText, part1 + part2 + part3);
      std::size_t header = frame.size() - part1.size() - part2.size() - part3.size();
      p.send_raw(frame.substr(0, header + part1.size()));
      p.expect_quiet(kQuiet);
      p.send_raw(frame.substr(header + part1.size(), part2.size()));
      p.expect_close({kInvalidPayload});
    };
  };
  add("6.4.1", fail_fast_frames(kosme, "\xf4\x90\x80\x80"));
  add("6.4.2", fail_fast_frames(kosme + "\xf4", "\x90"));
  add("6.4.3", fail_fast_chops(kosme, "\xf4\x90\x80\x80", "edited"));
  add("6.4.4", fail_fast_chops(kosme + "\xf4", "\x90", "\x80\x80" "edited"));
  int group_no = 5;
  for (const auto& group : utf8_groups()) {
    int n = 1;
    for (const auto& [valid, payload] : group.vectors) {
      std::string pl = payload;
      if (valid) add(id(6, group_no, n), echo_case(kOpText, pl));
      else add(id(6, group_no, n), fail_case([=](Peer& p) { return std::vector<std::string>{p.build_frame(kOpText, pl)}; }, {}, kInvalidPayload));
      ++n;
    }
    ++group_no;
  }

  // 7 Close handling.
  add("7.1.1", echo_case(kOpText, "Hello World!"));
  add("7.1.2", [](Peer& p) {
    p.send_close(kNormal);
    p.send_close(kNormal);
    p.expect_close_answer({kNormal});
  });
  add("7.1.3", [](Peer& p) {
    p.send_raw(p.build_frame(kOpClose, close_payload(kNormal)) + p.build_frame(kOpPing, ""));
    p.expect_close_answer({kNormal});  // no pong after the close
  });
  add("7.1.4", [](Peer& p) {
    p.send_raw(p.build_frame(kOpClose, close_payload(kNormal)) + p.build_frame(kOpText, kHello));
    p.expect_close_answer({kNormal});
  });
  add("7.1.5", [](Peer& p) {
    p.send_raw(p.build_frame(kOpText, "fragment1", false) + p.build_frame(kOpClose, close_payload(kNormal)) +
               p.build_frame(kOpContinuation, "fragment2"));
    p.expect_close_answer({kNormal});
  });
  add("7.1.6", [](Peer& p) {
    // Informational in Autobahn: whether the echoes come before the close answer depends on the
    // implementation; what comes must be exact, and the close must be clean.
    std::string big = repeat("BAsd7&jh23", 256 * 1024);
    p.send_raw(p.build_frame(kOpText, big) + p.build_frame(kOpText, "Hello World!") +
               p.build_frame(kOpClose, close_payload(kNormal)) + p.build_frame(kOpPing, ""));
    Event e = p.next_event();
    if (e.kind == Event::Kind::kMessage) {
      if (e.payload != big) throw CaseFailure("first echo is wrong: " + e.describe());
      e = p.next_event();
      if (e.kind == Event::Kind::kMessage) {
        if (e.payload != "Hello World!") throw CaseFailure("second echo is wrong: " + e.describe());
        e = p.next_event();
      }
    }
    if (e.kind != Event::Kind::kClose || e.close_code != kNormal) throw CaseFailure("expected close 1000, got " + e.describe());
    p.finish_harness_close(e);
  });
  // An empty close may be answered empty (usual) or with 1000.
  add("7.3.1", [](Peer& p) { p.close_with(std::nullopt, {kNoCloseCode, kNormal}); });
  add("7.3.2", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpClose, "a")}; }, {}, kProtocolError));
  add("7.3.3", [](Peer& p) { p.close_with(kNormal, {kNormal}); });
  add("7.3.4", [](Peer& p) {
    p.send_frame(kOpClose, close_payload(kNormal, "Hello World!"));
    p.expect_close_answer({kNormal});
  });
  add("7.3.5", [](Peer& p) {
    p.send_frame(kOpClose, close_payload(kNormal, std::string(123, '*')));
    p.expect_close_answer({kNormal});
  });
  add("7.3.6", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpClose, close_payload(kNormal, std::string(124, '*')))}; }, {}, kProtocolError));
  add("7.5.1", fail_case([=](Peer& p) { return std::vector<std::string>{p.build_frame(kOpClose, close_payload(kNormal, invalid))}; }, {}, kInvalidPayload));
  const int valid_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999};
  for (int i = 0; i < 13; ++i) {
    int code = valid_codes[i];
    add(id(7, 7, i + 1), [=](Peer& p) { p.close_with(code, {kNormal, code}); });
  }
  const int invalid_codes[] = {0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999};
  for (int i = 0; i < 9; ++i) {
    int code = invalid_codes[i];
    add(id(7, 9, i + 1), fail_case([=](Peer& p) { return std::vector<std::string>{p.build_frame(kOpClose, close_payload(code))}; }, {}, kProtocolError));
  }
  // Autobahn leaves 5000 and 65535 "undefined by the spec"; RFC 6455 7.4.2 makes them invalid,
  // so we require the protocol error.
  add("7.13.1", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpClose, close_payload(5000))}; }, {}, kProtocolError));
  add("7.13.2", fail_case([](Peer& p) { return std::vector<std::string>{p.build_frame(kOpClose, close_payload(65535))}; }, {}, kProtocolError));

  // 9 Limits and performance. Payloads are made when a case runs, not when it is listed.
  auto big_payload = [](bool binary, std::size_t n) {
    return binary ? binary_payload(n) : repeat("BAsd7&jh23", n);
  };
  auto big_echo = [=](bool binary, std::size_t n, Chops chops, std::size_t fragment) {
    return [=](Peer& p) { echo_case(binary ? kOpBinary : kOpText, big_payload(binary, n), chops, fragment)(p); };
  };
  const std::size_t big_sizes[] = {64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 8 * 1024 * 1024, 16 * 1024 * 1024};
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 6; ++i) {
      std::size_t n = big_sizes[i];
      auto& c = add(id(9, 1 + b, i + 1), big_echo(b == 1, n, {}, 0));
      c.timeout = kLargeTimeout;
      if (n >= kLargeCaseBytes) c.tier = CaseDef::Tier::kRelease;
    }
  }
  const std::size_t frag_sizes[] = {64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304};
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 9; ++i) {
      auto& c = add(id(9, 3 + b, i + 1), big_echo(b == 1, 4 * 1024 * 1024, {}, frag_sizes[i]));
      c.timeout = kLargeTimeout;
      c.tier = CaseDef::Tier::kRelease;
    }
  }
  const std::size_t chop_sizes[] = {64, 128, 256, 512, 1024, 2048};
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 6; ++i) {
      auto& c = add(id(9, 5 + b, i + 1), big_echo(b == 1, 1024 * 1024, Chops{chop_sizes[i], {}}, 0));
      c.timeout = kLargeTimeout;
    }
  }
  const std::size_t msg_sizes[] = {0, 16, 64, 256, 1024, 4096};
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 6; ++i) {
      std::size_t n = msg_sizes[i];
      std::uint8_t op = b == 0 ? kOpText : kOpBinary;
      std::string payload = b == 0 ? repeat("BAsd7&jh23", n) : binary_payload(n);
      auto& c = add(id(9, 7 + b, i + 1), [=](Peer& p) {
        for (int k = 0; k < 1000; ++k) {  // one at a time: each waits for the previous echo
          p.send_message(op, payload);
          p.expect_message(op, payload);
        }
        p.close_normally();
      });
      c.timeout = kLargeTimeout;
    }
  }

  // 10 Auto-fragmentation: a 64 KiB message in 1300-byte frames comes back whole.
  add("10.1.1", echo_case(kOpText, std::string(65536, '*'), {}, 1300));

  // 12 permessage-deflate with the default offer, five kinds of data.
  for (int data = 0; data < 5; ++data) {
    for (int i = 0; i < 18; ++i) {
      auto& c = add(id(12, data + 1, i + 1), deflate_case(data, kMsgSizes[i]));
      c.deflate = DeflateCase{{kDefaultOffer}, 1, {}, {}};
      c.timeout = kDeflateTimeout;
      c.tier = deflate_tier(kMsgSizes[i]);
    }
  }
  // 13 permessage-deflate parameters (JSON data): Autobahn's client offers and fuzzingserver
  // accept functions 1-7, plus what wstool's server must answer.
  const std::string nct = "; server_no_context_takeover";
  const std::vector<DeflateCase> params = {
      {{kDefaultOffer}, 1, {}, {}},
      {{kDefaultOffer + nct}, 2, {"server_no_context_takeover"}, {}},
      {{std::string(kDefaultOffer) + "; server_max_window_bits=8"}, 3, {"server_max_window_bits"}, {}},
      {{std::string(kDefaultOffer) + "; server_max_window_bits=15"}, 4, {"server_max_window_bits"}, {}},
      {{kDefaultOffer + nct + "; server_max_window_bits=8"}, 5, {"server_no_context_takeover", "server_max_window_bits"}, {}},
      {{kDefaultOffer + nct + "; server_max_window_bits=15"}, 6, {"server_no_context_takeover", "server_max_window_bits"}, {}},
      {{kDefaultOffer + nct + "; server_max_window_bits=8", kDefaultOffer + nct, kDefaultOffer}, 7,
       {"server_no_context_takeover", "server_max_window_bits"}, {}},
  };
  for (int j = 0; j < 7; ++j) {
    for (int i = 0; i < 18; ++i) {
      auto& c = add(id(13, j + 1, i + 1), deflate_case(0, kMsgSizes[i]));
      c.deflate = params[static_cast<std::size_t>(j)];
      c.timeout = kDeflateTimeout;
      c.tier = deflate_tier(kMsgSizes[i]);
    }
  }
  return cs;
}

}  // namespace

const std::vector<CaseDef>& all_cases() {
  static const std::vector<CaseDef> cases = build_cases();
  return cases;
}

std::string fuzzingserver_accept(int accept, const std::string& offers_header, DeflateState& state) {
  // Mirrors autobahn's accept1..accept7: find the first permessage-deflate offer the function
  // takes, answer with what the client asked of the server, plus what the function requests.
  struct Pick {
    bool client_nct;
    int client_bits;
  };
  auto try_accept = [&](bool need_nct, bool need_bits, Pick pick, std::string& answer) {
    for (const auto& offer : parse_extensions(offers_header)) {
      if (offer.name != "permessage-deflate") continue;
      bool accepts_nct = offer.params.count("client_no_context_takeover") > 0;
      bool accepts_bits = offer.params.count("client_max_window_bits") > 0;
      if ((need_nct && !accepts_nct) || (need_bits && !accepts_bits)) continue;
      answer = "permessage-deflate";
      state = DeflateState{};
      state.enabled = true;
      if (offer.params.count("server_no_context_takeover")) {
        answer += "; server_no_context_takeover";
        state.own_no_context_takeover = true;
      }
      auto sb = offer.params.find("server_max_window_bits");
      if (sb != offer.params.end() && !sb->second.empty()) {
        answer += "; server_max_window_bits=" + sb->second;
        state.own_window_bits = std::atoi(sb->second.c_str());
      }
      if (pick.client_nct) {
        answer += "; client_no_context_takeover";
        state.peer_no_context_takeover = true;
      }
      if (pick.client_bits) {
        answer += "; client_max_window_bits=" + std::to_string(pick.client_bits);
        state.peer_window_bits = pick.client_bits;
      }
      return true;
    }
    return false;
  };
  std::string answer;
  state = DeflateState{};
  switch (accept) {
    case 1: try_accept(false, false, {false, 0}, answer); break;
    case 2: try_accept(true, false, {true, 0}, answer); break;
    case 3: try_accept(false, true, {false, 8}, answer); break;
    case 4: try_accept(false, true, {false, 15}, answer); break;
    case 5: try_accept(true, true, {true, 8}, answer); break;
    case 6: try_accept(true, true, {true, 15}, answer); break;
    case 7:
      if (!try_accept(true, true, {true, 8}, answer) && !try_accept(true, false, {true, 0}, answer)) {
        try_accept(false, false, {false, 0}, answer);
      }
      break;
    default: break;
  }
  return answer;
}

}  // namespace conformance
