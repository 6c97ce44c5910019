// The Autobahn-style cases (sections 1-7, 9, 10, 12, 13), written role-agnostically: each runs
// against a Peer, which is the harness acting as client (testing a server) or as server.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/conformance/ws_peer.h"

namespace conformance {

// permessage-deflate settings of a case in sections 12 and 13.
struct DeflateCase {
  // What the harness offers when it is the client, in order (Autobahn's CLIENT_OFFERS).
  std::vector<std::string> offers;
  // Which Autobahn fuzzingserver accept function applies when the harness is the server (1-7;
  // section 12 uses 1).
  int accept = 1;
  // wstool's server accepts every one of these offers (a window of 8 is served by zlib's 9-bit
  // compressor, whose matches reach at most 250 bytes back).
  // Parameters the server's answer must hold (e.g. server_no_context_takeover) and must not.
  std::vector<std::string> answer_has;
  std::vector<std::string> answer_lacks;
};

struct CaseDef {
  std::string id;  // "6.4.3"
  std::function<void(Peer&)> run;
  // Which runs list the case: every run; Release builds (large, fast when optimised); or only
  // runs with WSTOOL_CONFORMANCE_FULL=1 (12.x/13.x with 32 KiB+ messages: 1000 of them each,
  // minutes in total even optimised).
  enum class Tier { kDefault, kRelease, kFull } tier = Tier::kDefault;
  std::chrono::milliseconds timeout{5000};
  std::optional<DeflateCase> deflate;
};

const std::vector<CaseDef>& all_cases();

// Applies Autobahn's fuzzingserver accept function `accept` (1-7) to a client's offers header:
// the Sec-WebSocket-Extensions answer ("" = declined) and the resulting harness state.
std::string fuzzingserver_accept(int accept, const std::string& offers_header, DeflateState& state);

}  // namespace conformance
