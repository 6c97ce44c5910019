// `wstool load`'s message templates ({{id}} {{conn}} {{seq}} {{time_ns}} {{rand N}}) and how it
// finds the correlation id or send timestamp it embedded when a message comes back. Pure: the
// time and the random source are passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace wstool {

// The correlation id as rendered: 16 lowercase hex digits. A timestamp: nanoseconds since the
// epoch, 19 decimal digits (until the year 2286).
inline constexpr std::size_t kCorrelationIdDigits = 16;
inline constexpr std::size_t kTimestampDigits = 19;
// {{rand N}} refuses N beyond this.
inline constexpr std::size_t kMaxRandomTemplateChars = 16 << 20;

using LoadRng = std::mt19937_64;

// Appends `count` random lowercase letters from g to z: never a hex digit, so random text can
// never be mistaken for a correlation id.
void append_random_text(std::string& out, std::size_t count, LoadRng& rng);

class LoadTemplate {
 public:
  // The values a rendering fills in.
  struct Fields {
    std::uint64_t id = 0;
    std::uint64_t conn = 0;
    std::uint64_t seq = 0;
    std::uint64_t time_ns = 0;
  };

  // False with a reason naming the field for an unknown or malformed {{...}}.
  bool parse(std::string_view text, std::string& error);
  // Renders into `out` (cleared first); allocates only while `out` grows.
  void render(std::string& out, const Fields& fields, LoadRng& rng) const;

  // Whether the ids are the only fields ({{id}}, no other field): then a rendered message
  // becomes the next one by set_id alone, with no copy of the rest (a 16 KiB message costs 16
  // bytes per send, not 16 KiB).
  bool id_only() const { return !id_offsets_.empty(); }
  // Rewrites every id in `out`, a rendering of this template (id_only() templates only).
  void set_id(std::string& out, std::uint64_t id) const;

  bool has_id() const { return has_id_; }
  bool has_time() const { return has_time_; }

 private:
  enum class Kind : std::uint8_t { kText, kId, kConn, kSeq, kTimeNs, kRand };
  struct Piece {
    Kind kind = Kind::kText;
    std::string text;
    std::size_t count = 0;
  };
  std::vector<Piece> pieces_;
  std::vector<std::size_t> id_offsets_;  // where rendered ids start, when id_only()
  bool has_id_ = false;
  bool has_time_ = false;
};

// The first run of exactly 16 hex digits (bounded by non-hex characters) as a number.
bool find_correlation_id(std::string_view text, std::uint64_t& id);
// The first run of exactly 19 decimal digits (bounded by non-digits) as a number.
bool find_timestamp_ns(std::string_view text, std::uint64_t& ns);

}  // namespace wstool
