// Tests for permessage-deflate (lib/permessage_deflate.h): RFC 7692 negotiation tables for both
// roles, and the codec against RFC examples and an independent zlib encoder and decoder.
#include "lib/permessage_deflate.h"

#include <gtest/gtest.h>

#define ZLIB_CONST
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace wstool::ws {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes bytes(std::initializer_list<int> list) {
  Bytes out;
  for (int b : list) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}
std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }

// ---------------------------------------------------------------------------------------------
// Server negotiation.

struct ServerCase {
  const char* offers;
  bool accepted;
  const char* response;  // expected when accepted
  DeflateParams params;  // expected when accepted
};

DeflateParams params(bool snct, bool cnct, int smwb, int cmwb) {
  DeflateParams p;
  p.server_no_context_takeover = snct;
  p.client_no_context_takeover = cnct;
  p.server_max_window_bits = smwb;
  p.client_max_window_bits = cmwb;
  return p;
}

void expect_params(const DeflateParams& got, const DeflateParams& want, const std::string& what) {
  EXPECT_EQ(got.server_no_context_takeover, want.server_no_context_takeover) << what;
  EXPECT_EQ(got.client_no_context_takeover, want.client_no_context_takeover) << what;
  EXPECT_EQ(got.server_max_window_bits, want.server_max_window_bits) << what;
  EXPECT_EQ(got.client_max_window_bits, want.client_max_window_bits) << what;
}

void run_server_cases(const std::vector<ServerCase>& cases, const DeflateOptions& options) {
  for (const ServerCase& c : cases) {
    const ServerNegotiation n = negotiate_deflate_server(c.offers, options);
    ASSERT_EQ(n.accepted, c.accepted) << c.offers;
    if (c.accepted) {
      EXPECT_EQ(n.response, c.response) << c.offers;
      expect_params(n.params, c.params, c.offers);
    } else {
      EXPECT_EQ(n.response, "") << c.offers;
    }
  }
}

const DeflateParams kDefaults{};

TEST(DeflateServerNegotiation, EachParameterOfAnOffer) {
  run_server_cases(
      {
          {"permessage-deflate", true, "permessage-deflate", kDefaults},
          {"permessage-deflate; client_max_window_bits", true, "permessage-deflate", kDefaults},
          {"permessage-deflate; client_max_window_bits=10", true, "permessage-deflate",
           params(false, false, 15, 10)},
          {"permessage-deflate; server_no_context_takeover", true,
           "permessage-deflate; server_no_context_takeover", params(true, false, 15, 15)},
          {"permessage-deflate; client_no_context_takeover", true,
           "permessage-deflate; client_no_context_takeover", params(false, true, 15, 15)},
          {"permessage-deflate; server_max_window_bits=10", true,
           "permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15)},
          {"permessage-deflate; server_max_window_bits=9", true,
           "permessage-deflate; server_max_window_bits=9", params(false, false, 9, 15)},
          {"permessage-deflate; server_max_window_bits=15", true,
           "permessage-deflate; server_max_window_bits=15", kDefaults},
          {"permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=12; client_max_window_bits=9",
           true,
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=12",
           params(true, true, 12, 9)},
          // Parameter order and whitespace do not matter.
          {"permessage-deflate;client_max_window_bits;server_max_window_bits=11\t; "
           "server_no_context_takeover",
           true, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
           params(true, false, 11, 15)},
      },
      DeflateOptions{});
}

TEST(DeflateServerNegotiation, QuotedValuesAreAccepted) {
  run_server_cases(
      {
          {"permessage-deflate; server_max_window_bits=\"10\"", true,
           "permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15)},
          {"permessage-deflate; client_max_window_bits=\"9\"", true, "permessage-deflate",
           params(false, false, 15, 9)},
          {"permessage-deflate; server_max_window_bits=\"1\\1\"", true,  // quoted-pair
           "permessage-deflate; server_max_window_bits=11", params(false, false, 11, 15)},
      },
      DeflateOptions{});
}

TEST(DeflateServerNegotiation, MalformedOffersAreDeclined) {
  const char* const kMalformed[] = {
      "permessage-deflate; server_max_window_bits",      // value required
      "permessage-deflate; server_max_window_bits=7",    // below range
      "permessage-deflate; server_max_window_bits=16",   // above range
      "permessage-deflate; server_max_window_bits=010",  // leading zero
      "permessage-deflate; server_max_window_bits=+9",
      "permessage-deflate; server_max_window_bits=abc",
      "permessage-deflate; server_max_window_bits=",
      "permessage-deflate; client_max_window_bits=7",
      "permessage-deflate; client_max_window_bits=16",
      "permessage-deflate; client_max_window_bits=09",
      "permessage-deflate; server_no_context_takeover=1",  // takes no value
      "permessage-deflate; client_no_context_takeover=true",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
      "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
      "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
      "permessage-deflate; foo",  // unknown parameter
      "permessage-deflate; x=1",
      "permessage-deflate;",  // empty parameter
      "permessage-deflate; ; server_no_context_takeover",
      "permessage-deflate; server_max_window_bits=\"10",     // unterminated quote
      "permessage-deflate; server_max_window_bits=\"1 0\"",  // quoted value not a token
      "permessage-deflate; server_max_window_bits=\"\"",
      "permessage-deflate server_no_context_takeover",  // missing ';'
      "permessage-deflate; server_max_window_bits=1 0",
  };
  for (const char* offer : kMalformed) {
    const ServerNegotiation n = negotiate_deflate_server(offer, DeflateOptions{});
    EXPECT_FALSE(n.accepted) << offer;
    EXPECT_EQ(n.response, "") << offer;
  }
}

// Options that refuse an 8-bit compression window, to exercise declining and fallback.
DeflateOptions no_window_bits_8() {
  DeflateOptions options;
  options.allow_window_bits_8 = false;
  return options;
}

TEST(DeflateServerNegotiation, DeclinedOffersFallBackToTheNextOne) {
  run_server_cases(
      {
          // The 8-bit window zlib cannot compress with: declined, the next offer is taken.
          {"permessage-deflate; server_max_window_bits=8", false, "", kDefaults},
          {"permessage-deflate; server_no_context_takeover; server_max_window_bits=8, "
           "permessage-deflate; server_no_context_takeover, permessage-deflate",
           true, "permessage-deflate; server_no_context_takeover", params(true, false, 15, 15)},
          {"permessage-deflate; foo, permessage-deflate; server_max_window_bits=11", true,
           "permessage-deflate; server_max_window_bits=11", params(false, false, 11, 15)},
          {"permessage-deflate; =x, permessage-deflate; client_no_context_takeover", true,
           "permessage-deflate; client_no_context_takeover", params(false, true, 15, 15)},
          {"permessage-deflate; server_max_window_bits=\"a,b\", permessage-deflate", true,
           "permessage-deflate", kDefaults},
          // Nothing acceptable at all.
          {"permessage-deflate; server_max_window_bits=8, permessage-deflate; bogus", false, "",
           kDefaults},
      },
      no_window_bits_8());
}

TEST(DeflateServerNegotiation, OtherExtensionsAreIgnored) {
  run_server_cases(
      {
          {"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", true,
           "permessage-deflate", kDefaults},
          {"foo; bar=\"a, permessage-deflate\"", false, "", kDefaults},  // inside a quote
          {"foo; bar=\"a,b\"; baz, permessage-deflate; server_no_context_takeover", true,
           "permessage-deflate; server_no_context_takeover", params(true, false, 15, 15)},
          {"foo; =broken, permessage-deflate", true, "permessage-deflate", kDefaults},
          {"permessage-deflate-x, xpermessage-deflate", false, "", kDefaults},
          {"", false, "", kDefaults},
          {" , ,permessage-deflate ,, ", true, "permessage-deflate", kDefaults},
      },
      DeflateOptions{});
}

TEST(DeflateServerNegotiation, DisabledDeclinesEverything) {
  DeflateOptions off;
  off.enabled = false;
  EXPECT_FALSE(negotiate_deflate_server("permessage-deflate", off).accepted);
}

TEST(DeflateServerNegotiation, ServerOwnRequests) {
  DeflateOptions options;
  options.request_server_no_context_takeover = true;
  options.request_client_no_context_takeover = true;
  options.request_server_max_window_bits = 10;
  options.request_client_max_window_bits = 11;
  run_server_cases(
      {
          // We may announce server_no_context_takeover, client_no_context_takeover and
          // server_max_window_bits unasked, but client_max_window_bits only when offered.
          {"permessage-deflate", true,
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=10",
           params(true, true, 10, 15)},
          {"permessage-deflate; server_max_window_bits=12; client_max_window_bits", true,
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=10; client_max_window_bits=11",
           params(true, true, 10, 11)},
          {"permessage-deflate; server_max_window_bits=9; client_max_window_bits=9", true,
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=9; client_max_window_bits=9",
           params(true, true, 9, 9)},
      },
      options);
}

TEST(DeflateServerNegotiation, WindowBits8WhenAllowed) {
  DeflateOptions options;
  options.allow_window_bits_8 = true;
  run_server_cases({{"permessage-deflate; server_max_window_bits=8", true,
                     "permessage-deflate; server_max_window_bits=8", params(false, false, 8, 15)}},
                   options);
}

// The offers Autobahn's fuzzingclient makes in cases 13.1 to 13.7 (autobahn 0.10.x's
// PerMessageDeflateOffer always adds client_no_context_takeover and client_max_window_bits).
TEST(DeflateServerNegotiation, AutobahnCase13Offers) {
  run_server_cases(
      {
          {"permessage-deflate; client_no_context_takeover; client_max_window_bits", true,
           "permessage-deflate; client_no_context_takeover", params(false, true, 15, 15)},
          {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
           "server_no_context_takeover",
           true, "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
           params(true, true, 15, 15)},
          {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
           "server_max_window_bits=8",
           true, "permessage-deflate; client_no_context_takeover; server_max_window_bits=8",
           params(false, true, 8, 15)},
          {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
           "server_max_window_bits=15",
           true, "permessage-deflate; client_no_context_takeover; server_max_window_bits=15",
           params(false, true, 15, 15)},
          {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
           "server_no_context_takeover; server_max_window_bits=8, "
           "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
           "server_no_context_takeover, "
           "permessage-deflate; client_no_context_takeover; client_max_window_bits",
           true,
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=8",
           params(true, true, 8, 15)},
      },
      DeflateOptions{});
}

// ---------------------------------------------------------------------------------------------
// Client offer and response.

TEST(DeflateClientOffer, Formats) {
  EXPECT_EQ(make_deflate_offer(DeflateOptions{}), "permessage-deflate; client_max_window_bits");
  DeflateOptions all;
  all.request_server_no_context_takeover = true;
  all.request_client_no_context_takeover = true;
  all.request_server_max_window_bits = 10;
  all.request_client_max_window_bits = 12;
  EXPECT_EQ(make_deflate_offer(all),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=12");
  DeflateOptions bare;
  bare.offer_client_max_window_bits = false;
  bare.request_client_max_window_bits = 12;  // meaningless without the parameter
  EXPECT_EQ(make_deflate_offer(bare), "permessage-deflate");
  DeflateOptions off;
  off.enabled = false;
  EXPECT_EQ(make_deflate_offer(off), "");
}

TEST(DeflateClientOffer, OurOfferIsAcceptedByOurServer) {
  DeflateOptions all;
  all.request_server_no_context_takeover = true;
  all.request_client_no_context_takeover = true;
  all.request_server_max_window_bits = 10;
  all.request_client_max_window_bits = 12;
  for (const DeflateOptions& options : {DeflateOptions{}, all}) {
    const ServerNegotiation s =
        negotiate_deflate_server(make_deflate_offer(options), DeflateOptions{});
    ASSERT_TRUE(s.accepted);
    const ClientNegotiation c = accept_deflate_response(s.response, options);
    ASSERT_TRUE(c.ok) << c.error;
    ASSERT_TRUE(c.accepted);
    expect_params(c.params, s.params, s.response);
  }
}

struct ClientCase {
  const char* response;
  bool ok;
  bool accepted;
  DeflateParams params;  // expected when accepted
};

void run_client_cases(const std::vector<ClientCase>& cases, const DeflateOptions& options) {
  for (const ClientCase& c : cases) {
    const ClientNegotiation n = accept_deflate_response(c.response, options);
    ASSERT_EQ(n.ok, c.ok) << c.response << " / " << n.error;
    EXPECT_EQ(n.accepted, c.accepted) << c.response;
    if (!c.ok) {
      EXPECT_FALSE(n.error.empty()) << c.response;
    }
    if (c.accepted) expect_params(n.params, c.params, c.response);
  }
}

TEST(DeflateClientResponse, DefaultOffer) {
  run_client_cases(
      {
          {"", true, false, kDefaults},  // the server declined: uncompressed
          {"permessage-deflate", true, true, kDefaults},
          {"permessage-deflate; client_max_window_bits=10", true, true,
           params(false, false, 15, 10)},
          {"permessage-deflate; client_max_window_bits=\"9\"", true, true,
           params(false, false, 15, 9)},
          {"permessage-deflate; server_max_window_bits=12", true, true,
           params(false, false, 12, 15)},
          {"permessage-deflate; server_no_context_takeover", true, true,
           params(true, false, 15, 15)},
          {"permessage-deflate; client_no_context_takeover", true, true,
           params(false, true, 15, 15)},
          {"permessage-deflate; server_max_window_bits=8", true, true, params(false, false, 8, 15)},
          // An 8-bit window for our compressor: served by zlib's 9-bit one (see DeflateOptions).
          {"permessage-deflate; client_max_window_bits=8", true, true, params(false, false, 15, 8)},
          // Failures (close 1010).
          {"permessage-deflate; client_max_window_bits", false, false, kDefaults},
          {"permessage-deflate; client_max_window_bits=16", false, false, kDefaults},
          {"permessage-deflate; server_max_window_bits", false, false, kDefaults},
          {"permessage-deflate; server_max_window_bits=7", false, false, kDefaults},
          {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", false,
           false, kDefaults},
          {"permessage-deflate; server_no_context_takeover=1", false, false, kDefaults},
          {"permessage-deflate; foo", false, false, kDefaults},
          {"permessage-deflate;", false, false, kDefaults},
          {"permessage-deflate, permessage-deflate", false, false, kDefaults},
          {"x-webkit-deflate-frame", false, false, kDefaults},
          {"permessage-deflate, x-foo", false, false, kDefaults},
          {"; x", false, false, kDefaults},
      },
      DeflateOptions{});
}

TEST(DeflateClientResponse, ResponseMustAcceptWhatWeOffered) {
  DeflateOptions options;
  options.request_server_no_context_takeover = true;
  options.request_server_max_window_bits = 10;
  options.request_client_max_window_bits = 12;
  run_client_cases(
      {
          {"permessage-deflate; server_no_context_takeover; server_max_window_bits=10", true, true,
           params(true, false, 10, 12)},
          {"permessage-deflate; server_no_context_takeover; server_max_window_bits=9; "
           "client_max_window_bits=11",
           true, true, params(true, false, 9, 11)},
          {"permessage-deflate; server_max_window_bits=10", false, false, kDefaults},
          {"permessage-deflate; server_no_context_takeover", false, false, kDefaults},
          {"permessage-deflate; server_no_context_takeover; server_max_window_bits=11", false,
           false, kDefaults},
          {"permessage-deflate; server_no_context_takeover; server_max_window_bits=10; "
           "client_max_window_bits=13",
           false, false, kDefaults},
      },
      options);

  DeflateOptions no_client_bits;
  no_client_bits.offer_client_max_window_bits = false;
  run_client_cases({{"permessage-deflate; client_max_window_bits=15", false, false, kDefaults}},
                   no_client_bits);

  DeflateOptions promise;
  promise.request_client_no_context_takeover = true;  // a promise, whatever the answer
  run_client_cases({{"permessage-deflate", true, true, params(false, true, 15, 15)}}, promise);

  DeflateOptions off;
  off.enabled = false;
  run_client_cases({{"", true, false, kDefaults}, {"permessage-deflate", false, false, kDefaults}},
                   off);

  DeflateOptions eight;
  eight.allow_window_bits_8 = true;
  run_client_cases(
      {{"permessage-deflate; client_max_window_bits=8", true, true, params(false, false, 15, 8)}},
      eight);
}

// ---------------------------------------------------------------------------------------------
// The codec.

constexpr std::size_t kNoLimit = std::size_t{1} << 40;

// Semi-compressible text: words from a small vocabulary, so there are long-distance matches.
Bytes sample_text(std::size_t size, std::uint32_t seed) {
  static const char* const kWords[] = {"alpha ",
                                       "bravo ",
                                       "charlie ",
                                       "delta ",
                                       "echo ",
                                       "foxtrot ",
                                       "golf ",
                                       "hotel ",
                                       "india ",
                                       "juliet ",
                                       "{\"type\":\"echo\",",
                                       "\"roomId\":42}",
                                       "\n"};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kWords) - 1);
  std::uniform_int_distribution<int> noise(0, 255);
  Bytes out;
  while (out.size() < size) {
    const char* w = kWords[pick(rng)];
    out.insert(out.end(), w, w + std::strlen(w));
    if (pick(rng) == 0) out.push_back(static_cast<std::uint8_t>(noise(rng)));
  }
  out.resize(size);
  return out;
}

// Feeds a compressed message to `codec` in frames of the given sizes (cycled; 0 = empty frame).
InflateStatus inflate_in_frames(DeflateCodec& codec, const Bytes& payload,
                                const std::vector<std::size_t>& frame_sizes, Bytes& out,
                                std::size_t max = kNoLimit) {
  std::size_t pos = 0, i = 0;
  for (;;) {
    const std::size_t n = std::min(frame_sizes[i++ % frame_sizes.size()], payload.size() - pos);
    const bool final = pos + n == payload.size();
    const InflateStatus st = codec.decompress(payload.data() + pos, n, final, out, max);
    pos += n;
    if (st != InflateStatus::kOk || final) return st;
  }
}

// An independent raw-deflate decoder with a given window, as a peer would run it.
class ZlibInflater {
 public:
  explicit ZlibInflater(int window_bits) { EXPECT_EQ(inflateInit2(&strm_, -window_bits), Z_OK); }
  ~ZlibInflater() { inflateEnd(&strm_); }
  ZlibInflater(const ZlibInflater&) = delete;
  ZlibInflater& operator=(const ZlibInflater&) = delete;

  // Inflates one message payload (tail appended); false on a zlib error.
  bool message(Bytes payload, Bytes& out) {
    payload.insert(payload.end(), {0x00, 0x00, 0xFF, 0xFF});
    strm_.next_in = payload.data();
    strm_.avail_in = static_cast<uInt>(payload.size());
    out.clear();
    std::uint8_t buf[4096];
    do {
      strm_.next_out = buf;
      strm_.avail_out = sizeof buf;
      const int rc = inflate(&strm_, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
      out.insert(out.end(), buf, buf + (sizeof buf - strm_.avail_out));
    } while (strm_.avail_in != 0 || strm_.avail_out == 0);
    return true;
  }

 private:
  z_stream strm_{};
};

// An independent raw-deflate encoder, as a peer would run it.
class ZlibDeflater {
 public:
  explicit ZlibDeflater(int window_bits = 15, int level = 6) {
    EXPECT_EQ(deflateInit2(&strm_, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  }
  ~ZlibDeflater() { deflateEnd(&strm_); }
  ZlibDeflater(const ZlibDeflater&) = delete;
  ZlibDeflater& operator=(const ZlibDeflater&) = delete;

  // Feeds `in` with `flush`, appending whatever comes out to `out`.
  void feed(const std::uint8_t* in, std::size_t size, int flush, Bytes& out) {
    strm_.next_in = in;
    strm_.avail_in = static_cast<uInt>(size);
    std::uint8_t buf[16384];
    do {
      strm_.next_out = buf;
      strm_.avail_out = sizeof buf;
      deflate(&strm_, flush);
      out.insert(out.end(), buf, buf + (sizeof buf - strm_.avail_out));
    } while (strm_.avail_in != 0 || strm_.avail_out == 0);
  }

  // One message the RFC 7692 7.2.1 way: sync flush, tail removed.
  Bytes message(const Bytes& in) {
    Bytes out;
    feed(in.data(), in.size(), Z_SYNC_FLUSH, out);
    EXPECT_GE(out.size(), 4U);
    out.resize(out.size() - 4);
    return out;
  }

 private:
  z_stream strm_{};
};

DeflateParams takeover(bool off, int bits) {
  DeflateParams p;
  p.server_no_context_takeover = off;
  p.client_no_context_takeover = off;
  p.server_max_window_bits = bits;
  p.client_max_window_bits = bits;
  return p;
}

TEST(DeflateCodec, Rfc7692Examples) {
  DeflateCodec codec(Role::kClient, DeflateParams{}, DeflateOptions{});
  Bytes out;
  // 7.2.3.1: "Hello" in one compressed block.
  const Bytes hello = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
  ASSERT_EQ(codec.decompress(hello.data(), hello.size(), true, out, kNoLimit), InflateStatus::kOk);
  EXPECT_EQ(text(out), "Hello");
  // 7.2.3.2: the same again, referring back into the previous message.
  const Bytes again = bytes({0xf2, 0x00, 0x11, 0x00, 0x00});
  out.clear();
  ASSERT_EQ(codec.decompress(again.data(), again.size(), true, out, kNoLimit), InflateStatus::kOk);
  EXPECT_EQ(text(out), "Hello");
  // 7.2.3.3: a stored (uncompressed) block.
  const Bytes stored = bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00});
  out.clear();
  ASSERT_EQ(codec.decompress(stored.data(), stored.size(), true, out, kNoLimit),
            InflateStatus::kOk);
  EXPECT_EQ(text(out), "Hello");
  // 7.2.3.5: two blocks in one message.
  const Bytes two =
      bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00});
  out.clear();
  ASSERT_EQ(codec.decompress(two.data(), two.size(), true, out, kNoLimit), InflateStatus::kOk);
  EXPECT_EQ(text(out), "Hello");
  // 7.2.3.4: BFINAL set; the stream ends and the next message starts a new one.
  for (const Bytes& final_block : {bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}),
                                   bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})}) {
    out.clear();
    ASSERT_EQ(codec.decompress(final_block.data(), final_block.size(), true, out, kNoLimit),
              InflateStatus::kOk);
    EXPECT_EQ(text(out), "Hello");
    out.clear();
    ASSERT_EQ(codec.decompress(hello.data(), hello.size(), true, out, kNoLimit),
              InflateStatus::kOk);
    EXPECT_EQ(text(out), "Hello");
  }

  // Our compressor produces 7.2.3.1 and 7.2.3.2 exactly.
  DeflateCodec sender(Role::kServer, DeflateParams{}, DeflateOptions{});
  const Bytes msg = bytes(std::string_view("Hello"));
  Bytes wire;
  sender.compress(msg.data(), msg.size(), wire);
  EXPECT_EQ(wire, hello);
  wire.clear();
  sender.compress(msg.data(), msg.size(), wire);
  EXPECT_EQ(wire, again);
}

// Regression: bytes after a BFINAL block stayed queued in the inflater and were read again,
// one past the end of the next message's buffer (found by the RFC 7.2.3.4 example).
TEST(DeflateCodec, DataAfterAFinalBlockIsNotCarriedIntoTheNextMessage) {
  DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
  const Bytes final_block = bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00});
  const Bytes hello = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
  for (int i = 0; i < 3; ++i) {
    // As the session feeds it: the frame's payload, then the end of the message.
    Bytes got;
    ASSERT_EQ(receiver.decompress(final_block.data(), final_block.size(), false, got, kNoLimit),
              InflateStatus::kOk);
    ASSERT_EQ(receiver.decompress(nullptr, 0, true, got, kNoLimit), InflateStatus::kOk);
    EXPECT_EQ(text(got), "Hello");
    got.clear();
    const Bytes copy = hello;  // its own heap block, so an over-read shows under ASan
    ASSERT_EQ(receiver.decompress(copy.data(), copy.size(), false, got, kNoLimit),
              InflateStatus::kOk);
    ASSERT_EQ(receiver.decompress(nullptr, 0, true, got, kNoLimit), InflateStatus::kOk);
    EXPECT_EQ(text(got), "Hello");
  }
}

TEST(DeflateCodec, RoundTripsAcrossWindowsAndContextTakeover) {
  for (const bool no_takeover : {false, true}) {
    for (int bits = 9; bits <= 15; ++bits) {
      for (const Role sender_role : {Role::kServer, Role::kClient}) {
        const Role receiver_role = sender_role == Role::kServer ? Role::kClient : Role::kServer;
        const DeflateParams p = takeover(no_takeover, bits);
        DeflateCodec sender(sender_role, p, DeflateOptions{});
        DeflateCodec receiver(receiver_role, p, DeflateOptions{});
        ZlibInflater peer(bits);  // a strict peer with exactly the negotiated window
        const std::string what = "bits=" + std::to_string(bits) +
                                 " no_takeover=" + std::to_string(no_takeover) +
                                 " sender=" + (sender_role == Role::kServer ? "server" : "client");
        std::size_t first_size = 0;
        for (std::uint32_t i = 0; i < 6; ++i) {
          // Messages 0 and 1 are equal and fit the smallest window (250 bytes of reach): with
          // context takeover the second refers back to the first.
          const Bytes msg = sample_text(i < 2 ? 200 : 40000 + i * 7919, i < 2 ? 7 : i);
          Bytes wire;
          sender.compress(msg.data(), msg.size(), wire);
          if (i == 0) first_size = wire.size();
          if (i == 1) {
            if (no_takeover) {
              EXPECT_EQ(wire.size(), first_size) << what;
            } else {
              EXPECT_LT(wire.size(), first_size / 4) << what;
            }
          }
          Bytes got;
          ASSERT_EQ(inflate_in_frames(receiver, wire, {1000, 0, 37}, got), InflateStatus::kOk)
              << what;
          ASSERT_EQ(got, msg) << what << " message " << i;
          Bytes peer_got;
          ASSERT_TRUE(peer.message(wire, peer_got)) << what;
          ASSERT_EQ(peer_got, msg) << what << " message " << i;
        }
      }
    }
  }
}

// A message sent in several frames (a proxy relaying fragments): each piece flushed, the tail
// removed from the last only; a strict independent peer reads the concatenation as one message,
// with and without context takeover.
TEST(DeflateCodec, AMessageCompressedInFragmentsReadsAsOne) {
  for (const bool no_takeover : {false, true}) {
    const DeflateParams p = takeover(no_takeover, 15);
    DeflateCodec sender(Role::kServer, p, DeflateOptions{});
    ZlibInflater peer(15);
    for (std::uint32_t i = 0; i < 3; ++i) {
      const Bytes msg = sample_text(3000 + i * 101, i);
      Bytes wire;
      const std::size_t cut = msg.size() / 3;
      sender.compress_fragment(msg.data(), cut, false, wire);
      const std::size_t first = wire.size();
      EXPECT_GT(first, 0u);  // flushed: the first frame decodes on arrival
      sender.compress_fragment(nullptr, 0, false, wire);
      EXPECT_EQ(wire.size(), first);  // an empty middle piece adds nothing
      sender.compress_fragment(msg.data() + cut, msg.size() - cut, true, wire);
      Bytes got;
      ASSERT_TRUE(peer.message(wire, got)) << "no_takeover=" << no_takeover;
      ASSERT_EQ(got, msg) << "no_takeover=" << no_takeover << " message " << i;
    }
  }
}

TEST(DeflateCodec, DecodesAnIndependentEncoder) {
  for (const bool no_takeover : {false, true}) {
    DeflateCodec receiver(Role::kServer, takeover(no_takeover, 15), DeflateOptions{});
    for (const int bits : {9, 12, 15}) {
      ZlibDeflater peer(bits, 9);
      for (std::uint32_t i = 0; i < 4; ++i) {
        const Bytes msg = sample_text(20000 + i * 3333, 100 + i);
        const Bytes wire = peer.message(msg);
        Bytes got;
        ASSERT_EQ(inflate_in_frames(receiver, wire, {wire.size()}, got), InflateStatus::kOk);
        EXPECT_EQ(got, msg);
        // The peer keeps its context: only a receiver that keeps it too can follow.
        if (no_takeover) break;
      }
    }
  }
}

TEST(DeflateCodec, WindowBits8IsCompressedWithinA256ByteWindow) {
  DeflateOptions options;
  options.allow_window_bits_8 = true;
  DeflateParams p;
  p.server_max_window_bits = 8;
  DeflateCodec sender(Role::kServer, p, options);
  EXPECT_EQ(sender.compress_window_bits(), 9);
  ZlibInflater peer(8);  // zlib's inflater does support 8 and rejects distances beyond it
  for (std::uint32_t i = 0; i < 5; ++i) {
    const Bytes msg = sample_text(50000, 200 + i);
    Bytes wire;
    sender.compress(msg.data(), msg.size(), wire);
    Bytes got;
    ASSERT_TRUE(peer.message(wire, got)) << "message " << i;
    ASSERT_EQ(got, msg) << "message " << i;
  }
}

TEST(DeflateCodec, EmptyMessage) {
  for (const bool no_takeover : {false, true}) {
    DeflateCodec sender(Role::kClient, takeover(no_takeover, 15), DeflateOptions{});
    DeflateCodec receiver(Role::kServer, takeover(no_takeover, 15), DeflateOptions{});
    ZlibInflater peer(15);
    const Bytes hello = bytes(std::string_view("Hello, Hello, Hello"));
    const Bytes empty;
    // RFC 7692 7.2.3.6: the empty message is the single byte 0x00, also between messages that
    // share their context.
    for (const Bytes* msg : {&empty, &hello, &empty, &empty, &hello}) {
      Bytes wire;
      sender.compress(msg->data(), msg->size(), wire);
      if (msg->empty()) {
        EXPECT_EQ(wire, bytes({0x00}));
      }
      Bytes got;
      ASSERT_EQ(receiver.decompress(wire.data(), wire.size(), true, got, kNoLimit),
                InflateStatus::kOk);
      EXPECT_EQ(got, *msg);
      ASSERT_TRUE(peer.message(wire, got));
      EXPECT_EQ(got, *msg);
    }
    // A compressed message with no payload at all reads as empty and disturbs nothing.
    Bytes got;
    ASSERT_EQ(receiver.decompress(nullptr, 0, true, got, kNoLimit), InflateStatus::kOk);
    EXPECT_TRUE(got.empty());
    Bytes wire;
    sender.compress(hello.data(), hello.size(), wire);
    ASSERT_EQ(receiver.decompress(wire.data(), wire.size(), true, got, kNoLimit),
              InflateStatus::kOk);
    EXPECT_EQ(got, hello);
  }
}

TEST(DeflateCodec, CompressAppendsAndDecompressAppends) {
  DeflateCodec sender(Role::kClient, DeflateParams{}, DeflateOptions{});
  DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
  const Bytes msg = sample_text(5000, 1);
  Bytes wire = bytes({0xAA, 0xBB});  // e.g. a frame header already in the buffer
  sender.compress(msg.data(), msg.size(), wire);
  ASSERT_GT(wire.size(), 2U);
  EXPECT_EQ(wire[0], 0xAA);
  EXPECT_EQ(wire[1], 0xBB);
  Bytes got = bytes({0x01});
  ASSERT_EQ(receiver.decompress(wire.data() + 2, wire.size() - 2, true, got, kNoLimit),
            InflateStatus::kOk);
  ASSERT_EQ(got.size(), msg.size() + 1);
  EXPECT_EQ(got[0], 0x01);
  EXPECT_TRUE(std::equal(msg.begin(), msg.end(), got.begin() + 1));
}

TEST(DeflateCodec, ReusedBuffersStopGrowing) {
  DeflateCodec sender(Role::kClient, DeflateParams{}, DeflateOptions{});
  DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
  const Bytes msg = sample_text(30000, 3);
  Bytes wire, got;
  std::size_t wire_cap = 0, got_cap = 0;
  for (int i = 0; i < 50; ++i) {
    wire.clear();
    got.clear();
    sender.compress(msg.data(), msg.size(), wire);
    ASSERT_EQ(receiver.decompress(wire.data(), wire.size(), true, got, kNoLimit),
              InflateStatus::kOk);
    ASSERT_EQ(got, msg);
    if (i == 1) {
      wire_cap = wire.capacity();
      got_cap = got.capacity();
    }
  }
  EXPECT_EQ(wire.capacity(), wire_cap);
  EXPECT_EQ(got.capacity(), got_cap);
}

TEST(DeflateCodec, MessageLimitIsExact) {
  DeflateCodec sender(Role::kClient, DeflateParams{}, DeflateOptions{});
  const Bytes msg = sample_text(100000, 5);
  Bytes wire;
  sender.compress(msg.data(), msg.size(), wire);
  {
    DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
    Bytes got;
    EXPECT_EQ(inflate_in_frames(receiver, wire, {512}, got, msg.size()), InflateStatus::kOk);
    EXPECT_EQ(got, msg);
  }
  {
    DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
    Bytes got;
    EXPECT_EQ(inflate_in_frames(receiver, wire, {512}, got, msg.size() - 1),
              InflateStatus::kTooBig);
    EXPECT_LE(got.size(), msg.size());
  }
}

TEST(DeflateCodec, LargestLimitMeansNoLimit) {
  DeflateCodec sender(Role::kClient, DeflateParams{}, DeflateOptions{});
  DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
  const Bytes msg = sample_text(50000, 11);
  Bytes wire, got;
  sender.compress(msg.data(), msg.size(), wire);
  EXPECT_EQ(inflate_in_frames(receiver, wire, {wire.size()}, got,
                              std::numeric_limits<std::size_t>::max()),
            InflateStatus::kOk);
  EXPECT_EQ(got, msg);
}

TEST(DeflateCodec, ZeroLimitAllowsOnlyTheEmptyMessage) {
  DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
  const Bytes empty = bytes({0x00});
  Bytes got;
  EXPECT_EQ(receiver.decompress(empty.data(), empty.size(), true, got, 0), InflateStatus::kOk);
  const Bytes hello = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
  EXPECT_EQ(receiver.decompress(hello.data(), hello.size(), true, got, 0), InflateStatus::kTooBig);
}

TEST(DeflateCodec, DecompressionBombStopsAtTheLimitWithoutAllocating) {
  // 100 MiB of zeros, compressed by an independent encoder without ever holding them.
  constexpr std::size_t kBombBytes = std::size_t{100} << 20;
  constexpr std::size_t kLimit = std::size_t{1} << 20;
  const Bytes zeros(std::size_t{1} << 20, 0);
  ZlibDeflater peer(15, 1);  // the fastest level keeps the test quick
  Bytes wire;
  for (std::size_t done = 0; done < kBombBytes; done += zeros.size()) {
    peer.feed(zeros.data(), zeros.size(), Z_NO_FLUSH, wire);
  }
  peer.feed(nullptr, 0, Z_SYNC_FLUSH, wire);
  wire.resize(wire.size() - 4);
  ASSERT_LT(wire.size(), kBombBytes / 100);  // a bomb: over 100:1

  for (const std::size_t frame : {wire.size(), std::size_t{4096}}) {
    DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
    Bytes got;
    EXPECT_EQ(inflate_in_frames(receiver, wire, {frame}, got, kLimit), InflateStatus::kTooBig);
    EXPECT_LE(got.size(), kLimit + 1);
    EXPECT_LE(got.capacity(), 2 * kLimit + (64U << 10));
  }
}

TEST(DeflateCodec, CorruptInputIsReported) {
  const Bytes reserved_block_type = bytes({0xff, 0xff, 0xff});
  const Bytes bad_stored_length = bytes({0x00, 0x05, 0x00, 0x00, 0x00, 'H', 'e', 'l', 'l', 'o'});
  // A fixed-Huffman block (BFINAL=0, BTYPE=01) opening with a match (length code 257,
  // distance code 0) before any output exists.
  const Bytes too_far_back = bytes({0x02, 0x02, 0x00});
  for (const Bytes* bad : {&reserved_block_type, &bad_stored_length, &too_far_back}) {
    DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
    Bytes got;
    EXPECT_EQ(receiver.decompress(bad->data(), bad->size(), true, got, kNoLimit),
              InflateStatus::kCorrupt);
  }
  // Good data, then garbage in a later frame of the same message.
  DeflateCodec sender(Role::kClient, DeflateParams{}, DeflateOptions{});
  const Bytes msg = sample_text(3000, 9);
  Bytes wire;
  sender.compress(msg.data(), msg.size(), wire);
  wire.insert(wire.end(), reserved_block_type.begin(), reserved_block_type.end());
  DeflateCodec receiver(Role::kServer, DeflateParams{}, DeflateOptions{});
  Bytes got;
  EXPECT_EQ(inflate_in_frames(receiver, wire, {100}, got), InflateStatus::kCorrupt);
}

}  // namespace
}  // namespace wstool::ws
